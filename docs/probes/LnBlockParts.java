package dev.vecnorm.internal;
/** The rows-apart forward's parts in blocks of rowsApartBlock rows, ns a row: rowSums, blockStatistics, writeRows, whole. args: ROWS FEATURES */
public class LnBlockParts {
  public static void main(String[] a) {
    int rows = Integer.parseInt(a[0]), f = Integer.parseInt(a[1]), block = PanamaLayerNormSupport.rowsApartBlock(f);
    float[] x = new float[rows * f], y = new float[rows * f], g = new float[f], b = new float[f], m = new float[rows], is = new float[rows];
    java.util.Random r = new java.util.Random(1);
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
    java.util.Arrays.fill(g, 1f);
    double[] t = new double[5 * block];
    float[] u = new float[2 * block];
    double sink = 0;
    int calls = Math.max(50, 4_000_000 / (rows * f));
    for (int round = 0; round < 10; round++) {
      long t0 = System.nanoTime();
      for (int k = 0; k < calls; k++) for (int r0 = 0; r0 < rows; r0 += block) PanamaLayerNormSupport.rowSums(x, r0 * f, Math.min(block, rows - r0), f, t, block);
      long t1 = System.nanoTime();
      for (int k = 0; k < calls; k++) for (int r0 = 0; r0 < rows; r0 += block) PanamaLayerNormSupport.blockStatistics(x, r0 * f, Math.min(block, rows - r0), f, 1e-3f, t, u, block);
      long t2 = System.nanoTime();
      for (int k = 0; k < calls; k++) for (int r0 = 0; r0 < rows; r0 += block) PanamaLayerNormSupport.writeRows(x, r0 * f, y, r0 * f, Math.min(block, rows - r0), f, g, b, u, block);
      long t3 = System.nanoTime();
      for (int k = 0; k < calls; k++) PanamaLayerNormSupport.forwardRowsApart(x, 0, y, 0, rows, f, g, b, 1e-3f, m, is, 0);
      long t4 = System.nanoTime();
      sink += y[3] + m[2];
      if (round >= 7) System.out.printf("per row: sums %.1f  stats %.1f  write %.1f  whole %.1f ns%n", (t1-t0)/(double)calls/rows, (t2-t1)/(double)calls/rows, (t3-t2)/(double)calls/rows, (t4-t3)/(double)calls/rows);
    }
    System.out.println(sink == 42 ? "!" : "");
  }
}
