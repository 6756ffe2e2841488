import dev.vecnorm.*;
import java.lang.foreign.*;
/**
 * LayerNorm.forward on float[] and on a native segment (Arena, 64-byte aligned) holding the same data, alternating in
 * one JVM, ns a row, medians of 11 rounds: args ROWSxFEATURES... (thirty-first session; default package).
 */
public class NatVsArr {
  public static void main(String[] a) {
    for (String shape : a) {
      String[] p = shape.split("x");
      int rows = Integer.parseInt(p[0]), f = Integer.parseInt(p[1]), n = rows * f;
      float[] x = new float[n], y = new float[n], g = new float[f], b = new float[f], m = new float[rows], s = new float[rows];
      java.util.Random r = new java.util.Random(1);
      for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
      java.util.Arrays.fill(g, 1f);
      Arena arena = Arena.ofShared();
      MemorySegment xs = arena.allocate(4L * n, 64), ys = arena.allocate(4L * n, 64);
      MemorySegment.copy(x, 0, xs, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, n);
      int calls = Math.max(50, 2_000_000 / n);
      double[] ta = new double[11], tn = new double[11];
      for (int round = -5; round < 11; round++) {
        long t0 = System.nanoTime();
        for (int k = 0; k < calls; k++) LayerNorm.forward(rows, f, x, 0, g, b, 1e-3f, y, 0, m, s);
        long t1 = System.nanoTime();
        for (int k = 0; k < calls; k++) LayerNorm.forward(rows, f, xs, 0, g, b, 1e-3f, ys, 0, m, s);
        long t2 = System.nanoTime();
        if (round >= 0) { ta[round] = (t1 - t0) / (double) calls / rows; tn[round] = (t2 - t1) / (double) calls / rows; }
      }
      java.util.Arrays.sort(ta); java.util.Arrays.sort(tn);
      System.out.printf("%s array %.1f native %.1f ns/row%n", shape, ta[5], tn[5]);
    }
  }
}
