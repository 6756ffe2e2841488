package dev.vecnorm.internal;

import java.lang.foreign.*;
import java.util.*;
/**
 * Native LayerNorm forward rows apart (PanamaNativeLayerNorm.forwardRowsApart) against the native pipelined loop
 * (forwardPipelined), one JVM; bits checked. args: RxF... Compiles against the classes of the commit that added it
 * (the rows-apart native body was then taken out again: it did not gain); run as dev.vecnorm.internal.LnFwdNativeAB.
 */
public class LnFwdNativeAB {
  public static void main(String[] a) {
    int rounds = Integer.getInteger("rounds", 15);
    for (String sh : a) {
      String[] s = sh.split("x"); int r = Integer.parseInt(s[0]), f = Integer.parseInt(s[1]);
      Arena arena = Arena.ofShared();
      long n = (long) r * f;
      MemorySegment x = arena.allocate(4 * n, 64), y = arena.allocate(4 * n, 64), y2 = arena.allocate(4 * n, 64);
      Random rnd = new Random(1);
      for (long i = 0; i < n; i++) x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextGaussian());
      float[] g = new float[f], b = new float[f], m = new float[r], is = new float[r], m2 = new float[r], is2 = new float[r];
      for (int i = 0; i < f; i++) { g[i] = 1 + 0.1f*i/f; b[i] = 0.01f*i; }
      Runnable apart = () -> PanamaNativeLayerNorm.forwardRowsApart(x, 0, y, 0, r, f, g, b, 1e-3f, m, is, 0);
      Runnable old = () -> PanamaNativeLayerNorm.forwardPipelined(x, 0, y2, 0, r, f, g, b, 1e-3f, m2, is2, 0);
      for (int w = 0; w < 300; w++) { apart.run(); old.run(); }
      if (y.mismatch(y2) != -1 || !Arrays.equals(m, m2) || !Arrays.equals(is, is2)) throw new AssertionError("bits differ at " + sh);
      double[] ra = new double[rounds];
      double[][] t = new double[2][rounds];
      for (int q = 0; q < rounds; q++) {
        Runnable[] ops = q % 2 == 0 ? new Runnable[] {apart, old} : new Runnable[] {old, apart};
        for (int o = 0; o < 2; o++) {
          long best = Long.MAX_VALUE;
          for (int rep = 0; rep < 5; rep++) { long t0 = System.nanoTime(); ops[o].run(); best = Math.min(best, System.nanoTime() - t0); }
          t[(q % 2 == 0) == (o == 0) ? 0 : 1][q] = best / 1e3;
        }
        ra[q] = t[0][q] / t[1][q];
      }
      Arrays.sort(ra); Arrays.sort(t[0]); Arrays.sort(t[1]);
      System.out.printf("native %s rowsApart %.0f pipelined %.0f  ratio median %.3f (%.3f-%.3f)%n", sh, t[0][rounds / 2], t[1][rounds / 2], ra[rounds / 2], ra[0], ra[rounds - 1]);
    }
  }
}
