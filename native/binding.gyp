{
  "targets": [
    {
      "target_name": "robustlab_matmul",
      "sources": ["matmul.cc"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd", "-ffp-contract=off"],
      "libraries": [
        "-ldl"
      ]
    }
  ]
}
