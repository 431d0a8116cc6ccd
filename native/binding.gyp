{
  "targets": [
    {
      "target_name": "robustlab_matmul",
      "sources": ["matmul.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-exceptions"],
      "libraries": [
        "-ldl"
      ]
    }
  ]
}
