package dev.vecnorm.internal;

/**
 * The passes behind {@code dev.vecnorm.WeightNorm}, one scalar and one Vector API implementation,
 * chosen by {@link VectorizationProvider#weightNorm()}.
 *
 * <p>A matrix is {@code rows} contiguous rows of {@code cols} floats at an element offset (a Keras
 * kernel {@code [in, units]}: a column is one output unit). Per-column arrays have {@code cols}
 * elements. The reductions <em>add</em> into their per-column outputs, so the facade can run them over
 * blocks of rows (staged segments) and zero the outputs once. The facade has validated everything.
 */
public interface WeightNormSupport {

  /** "scalar" or "panama". */
  String name();

  /** {@code sumSq[c] += Σ_r v[r][c]²}. */
  void addColumnSquares(float[] v, int vOffset, int rows, int cols, float[] sumSq);

  /** {@code sumSq[c] += Σ_r v[r][c]²} and {@code dot[c] += Σ_r dw[r][c] * v[r][c]}, in one read of both. */
  void addColumnSquaresAndDots(float[] v, int vOffset, float[] dw, int dwOffset, int rows, int cols, float[] sumSq, float[] dot);

  /**
   * {@code out[r][c] = a[c] * p[r][c]}, plus {@code b[c] * q[r][c]} when {@code q} is not null. Each
   * element is read before it is written, so {@code out} may be {@code p} or {@code q} at the same offset.
   */
  void combineColumns(float[] p, int pOffset, float[] a, float[] q, int qOffset, float[] b, int rows, int cols, float[] out, int outOffset);
}
