package dev.vecnorm.bench;

import dev.vecnorm.*;
import java.util.*;

/**
 * The first calls of a fresh JVM against its steady state, with and without the family's warm-up (twenty-fourth
 * session): 1000 calls of forward then backward, and the median of calls 1-50 over the median of the last 200.
 * {@code gn}: GroupNorm NHWC 4x50x100 with 10 groups; {@code ln ROWS FEATURES}: LayerNorm.
 * <pre>java --add-modules jdk.incubator.vector [-Dwarm=true] -cp jmh/target/benchmarks.jar dev.vecnorm.bench.WarmUpProbe gn|ln 64 768</pre>
 */

public class WarmUpProbe {
  public static void main(String[] a) {
    boolean warm = Boolean.getBoolean("warm");
    String kind = a[0];
    int calls = 1000;
    double[] t = new double[calls];
    long w0 = System.nanoTime();
    if (kind.equals("gn")) {
      GroupShape s = GroupShape.nhwc(4, 50, 100, 10);
      int n = 4 * 50 * 100; float[] x = new float[n], dy = new float[n], y = new float[n], dx = new float[n];
      Random r = new Random(1); for (int i = 0; i < n; i++) { x[i] = (float) r.nextGaussian(); dy[i] = (float) r.nextGaussian(); }
      float[] g = new float[100], b = new float[100], dg = new float[100], db = new float[100], m = new float[40], is = new float[40];
      Arrays.fill(g, 1f);
      if (warm) System.out.println("warm-up " + GroupNorm.warmUp(s).toMillis() + " ms");
      for (int i = 0; i < calls; i++) { long t0 = System.nanoTime(); GroupNorm.forward(s, x, 0, g, b, 1e-3f, y, 0, m, is); GroupNorm.backward(s, x, 0, dy, 0, g, m, is, dx, 0, dg, db); t[i] = (System.nanoTime() - t0) / 1e3; }
    } else {
      int rows = Integer.parseInt(a[1]), f = Integer.parseInt(a[2]);
      int n = rows * f; float[] x = new float[n], dy = new float[n], y = new float[n], dx = new float[n];
      Random r = new Random(1); for (int i = 0; i < n; i++) { x[i] = (float) r.nextGaussian(); dy[i] = (float) r.nextGaussian(); }
      float[] g = new float[f], b = new float[f], dg = new float[f], db = new float[f], m = new float[rows], is = new float[rows];
      Arrays.fill(g, 1f);
      if (warm) System.out.println("warm-up " + LayerNorm.warmUp(rows, f).toMillis() + " ms");
      for (int i = 0; i < calls; i++) { long t0 = System.nanoTime(); LayerNorm.forward(rows, f, x, 0, g, b, 1e-3f, y, 0, m, is); LayerNorm.backward(rows, f, x, 0, dy, 0, g, m, is, dx, 0, dg, db); t[i] = (System.nanoTime() - t0) / 1e3; }
    }
    double[] last = Arrays.copyOfRange(t, calls - 200, calls); Arrays.sort(last);
    double steady = last[100];
    double[] first = Arrays.copyOfRange(t, 0, 50); double[] fs = first.clone(); Arrays.sort(fs);
    System.out.printf("%s warm=%s: call1 %.0f us, calls 1-50 median %.0f max %.0f, steady %.1f us (ratio median %.2f)%n", kind, warm, t[0], fs[25], fs[49], steady, fs[25] / steady);
  }
}
