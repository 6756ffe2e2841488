package dev.vecnorm.internal;

/** i-k-j loop order: the inner loop streams rows of B and C, which C2 can at least unroll. */
public final class ScalarMatMul implements MatMulSupport {
  public static final ScalarMatMul INSTANCE = new ScalarMatMul();

  private ScalarMatMul() {}

  @Override
  public void multiply(float[] a, float[] b, float[] c, int m, int k, int n, boolean accumulate) {
    if (!accumulate) java.util.Arrays.fill(c, 0, m * n, 0f);
    for (int i = 0; i < m; i++) {
      for (int p = 0; p < k; p++) {
        float av = a[i * k + p];
        if (av == 0f) continue;
        int bRow = p * n, cRow = i * n;
        for (int j = 0; j < n; j++) c[cRow + j] += av * b[bRow + j];
      }
    }
  }
}
