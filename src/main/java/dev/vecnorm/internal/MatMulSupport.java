package dev.vecnorm.internal;

/**
 * Row-major single-precision matrix multiply for the Dense layer, scalar and Vector API, chosen by
 * {@link VectorizationProvider} like the batch-norm kernels.
 */
public interface MatMulSupport {
  /** {@code C[m][n] (+)= sum_k A[m][k] * B[k][n]}; all row-major and dense. */
  void multiply(float[] a, float[] b, float[] c, int m, int k, int n, boolean accumulate);
}
