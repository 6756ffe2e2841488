package dev.vecnorm.internal;

import java.util.*;
/**
 * LayerNorm's rows-apart forward in blocks (PanamaLayerNormSupport.forwardRowsApart: every row's sums, then statistics,
 * then writes, rowsApartBlock rows at a time) against the row-by-row loop it replaced (thirtieth session; copied below),
 * in one JVM, alternating; checks the bits are equal, then prints the medians and the median per-round ratio.
 * args: RxF... (in package dev.vecnorm.internal to reach them; run as dev.vecnorm.internal.LnBlockAB)
 */
public class LnBlockAB {
  public static void main(String[] a) {
    int rounds = Integer.getInteger("rounds", 15);
    for (String sh : a) {
      String[] s = sh.split("x"); int r = Integer.parseInt(s[0]), f = Integer.parseInt(s[1]);
      Random rnd = new Random(1);
      float[] x = new float[r*f], y = new float[r*f], y2 = new float[r*f], g = new float[f], b = new float[f];
      float[] m = new float[r], is = new float[r], m2 = new float[r], is2 = new float[r];
      for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
      for (int i = 0; i < f; i++) { g[i] = 1 + 0.1f*i/f; b[i] = 0.01f*i; }
      Runnable lib = () -> PanamaLayerNormSupport.forwardRowsApart(x, 0, y, 0, r, f, g, b, 1e-3f, m, is, 0);
      Runnable old = () -> rowByRow(x, 0, y2, 0, r, f, g, b, 1e-3f, m2, is2, 0);
      for (int w = 0; w < 300; w++) { lib.run(); old.run(); }
      if (!Arrays.equals(y, y2) || !Arrays.equals(m, m2) || !Arrays.equals(is, is2)) throw new AssertionError("bits differ at " + sh);
      System.out.println(PairedAB.run(sh, "blocks", lib, "rowByRow", old, rounds));
    }
  }

  /** forwardRowsApart as the twenty-ninth session left it (commit 40edbc3). */
  static void rowByRow(float[] x, int xOffset, float[] y, int yOffset, int rows, int features, float[] g, float[] b,
                       float epsilon, float[] mean, float[] invStd, int statsOffset) {
    for (int r = 0; r < rows; r++) {
      int xo = xOffset + r * features;
      long stats = PanamaLayerNormSupport.statistics(x, xo, 1, features, features, epsilon,
          PanamaLayerNormSupport.blockSums(x, xo, 1, features, features, x[xo]));
      float m = Float.intBitsToFloat((int) (stats >>> 32)), s = Float.intBitsToFloat((int) stats);
      if (mean != null) mean[statsOffset + r] = m;
      if (invStd != null) invStd[statsOffset + r] = s;
      PanamaLayerNormSupport.writeRow(x, xo, y, yOffset + r * features, features, g, b, m, s);
    }
  }
}
