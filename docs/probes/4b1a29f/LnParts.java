package dev.vecnorm.internal;
/**
 * LayerNorm's rows-apart forward in parts, ns a row: every row's blockSums, then every row's statistics, then every
 * row's writeRow, then the whole forwardRowsApart, 50 calls each, eight rounds. args: ROWS FEATURES (run as
 * dev.vecnorm.internal.LnParts).
 */
public class LnParts {
  public static void main(String[] a) {
    int rows = Integer.parseInt(a[0]), f = Integer.parseInt(a[1]);
    float[] x = new float[rows * f], y = new float[rows * f], g = new float[f], b = new float[f], m = new float[rows], is = new float[rows];
    java.util.Random r = new java.util.Random(1);
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
    java.util.Arrays.fill(g, 1f);
    long[] sums = new long[rows];
    double sink = 0;
    for (int round = 0; round < 8; round++) {
      long t0 = System.nanoTime();
      for (int k = 0; k < 50; k++) for (int i = 0; i < rows; i++) sums[i] = PanamaLayerNormSupport.blockSums(x, i * f, 1, f, f, x[i * f]);
      long t1 = System.nanoTime();
      for (int k = 0; k < 50; k++) for (int i = 0; i < rows; i++) { long st = PanamaLayerNormSupport.statistics(x, i * f, 1, f, f, 1e-3f, sums[i]); m[i] = Float.intBitsToFloat((int) (st >>> 32)); is[i] = Float.intBitsToFloat((int) st); }
      long t2 = System.nanoTime();
      for (int k = 0; k < 50; k++) for (int i = 0; i < rows; i++) PanamaLayerNormSupport.writeRow(x, i * f, y, i * f, f, g, b, m[i], is[i]);
      long t3 = System.nanoTime();
      for (int k = 0; k < 50; k++) PanamaLayerNormSupport.forwardRowsApart(x, 0, y, 0, rows, f, g, b, 1e-3f, m, is, 0);
      long t4 = System.nanoTime();
      sink += y[3] + m[2];
      System.out.printf("per row: sums %.1f  stats %.1f  write %.1f  whole %.1f ns%n", (t1-t0)/50.0/rows, (t2-t1)/50.0/rows, (t3-t2)/50.0/rows, (t4-t3)/50.0/rows);
    }
    System.out.println(sink == 42 ? "!" : "");
  }
}
