package dev.vecnorm.internal;

import java.util.*;
/**
 * LayerNorm forward in one JVM: the library's rows-apart form (PanamaLayerNormSupport.forwardRowsApart) against its
 * pipelined loop (PanamaLayerNormSupport.forwardPipelined, which forward runs for wide rows from memory), for any shape; checks the bits are equal, then prints the medians and the median per-round ratio. args: RxF...
 * (in package dev.vecnorm.internal to reach them; run as dev.vecnorm.internal.LnFwdAB)
 */
public class LnFwdAB {
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
      Runnable old = () -> PanamaLayerNormSupport.forwardPipelined(x, 0, y2, 0, r, f, g, b, 1e-3f, m2, is2, 0);
      for (int w = 0; w < 300; w++) { lib.run(); old.run(); }
      if (!Arrays.equals(y, y2) || !Arrays.equals(m, m2) || !Arrays.equals(is, is2)) throw new AssertionError("bits differ at " + sh);
      System.out.println(PairedAB.run(sh, "rowsApart", lib, "pipelined", old, rounds));
    }
  }
}
