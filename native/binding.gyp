{
  "targets": [
    {
      "target_name": "robustlab_matmul",
      "sources": ["matmul.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti"],
      "libraries": [
        "<!@(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)"
      ]
    }
  ]
}
