package dev.vecnorm.internal;

/**
 * Plain-Java weight-norm passes: the fallback without the vector module and the reference the Panama
 * passes are tested against. Column sums run down each column in double (strided, but this is the
 * fallback; double keeps the sum of thousands of squares exact to float output).
 */
public final class ScalarWeightNormSupport implements WeightNormSupport {

  public static final ScalarWeightNormSupport INSTANCE = new ScalarWeightNormSupport();

  private ScalarWeightNormSupport() {}

  @Override
  public String name() {
    return "scalar";
  }

  @Override
  public void addColumnSquares(float[] v, int vOffset, int rows, int cols, float[] sumSq) {
    for (int c = 0; c < cols; c++) {
      double s = 0;
      for (int r = 0, p = vOffset + c; r < rows; r++, p += cols) s += (double) v[p] * v[p];
      sumSq[c] += (float) s;
    }
  }

  @Override
  public void addColumnSquaresAndDots(float[] v, int vOffset, float[] dw, int dwOffset, int rows, int cols, float[] sumSq, float[] dot) {
    for (int c = 0; c < cols; c++) {
      double s = 0, d = 0;
      for (int r = 0, p = vOffset + c, q = dwOffset + c; r < rows; r++, p += cols, q += cols) {
        s += (double) v[p] * v[p];
        d += (double) dw[q] * v[p];
      }
      sumSq[c] += (float) s;
      dot[c] += (float) d;
    }
  }

  @Override
  public void combineColumns(float[] p, int pOffset, float[] a, float[] q, int qOffset, float[] b, int rows, int cols, float[] out,
                             int outOffset) {
    for (int r = 0; r < rows; r++) {
      int pr = pOffset + r * cols, qr = qOffset + r * cols, or = outOffset + r * cols;
      for (int c = 0; c < cols; c++) {
        out[or + c] = q == null ? a[c] * p[pr + c] : Math.fma(b[c], q[qr + c], a[c] * p[pr + c]);
      }
    }
  }
}
