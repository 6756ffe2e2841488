import dev.vecnorm.*;
import java.lang.foreign.*;
/**
 * LayerNorm.forward and backward and RmsNorm.forward on float[] and on a native segment (Arena, 64-byte aligned) holding the same data, alternating in
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
      double[] ta = new double[11], tn = new double[11], ba = new double[11], bn = new double[11], ra = new double[11], rn = new double[11];
      float[] dy = new float[n], dx = new float[n], dg = new float[f], db = new float[f];
      for (int i = 0; i < n; i++) dy[i] = (float) r.nextGaussian();
      MemorySegment dys = arena.allocate(4L * n, 64), dxs = arena.allocate(4L * n, 64);
      MemorySegment.copy(dy, 0, dys, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, n);
      for (int round = -5; round < 11; round++) {
        long t0 = System.nanoTime();
        for (int k = 0; k < calls; k++) LayerNorm.forward(rows, f, x, 0, g, b, 1e-3f, y, 0, m, s);
        long t1 = System.nanoTime();
        for (int k = 0; k < calls; k++) LayerNorm.forward(rows, f, xs, 0, g, b, 1e-3f, ys, 0, m, s);
        long t2 = System.nanoTime();
        for (int k = 0; k < calls; k++) LayerNorm.backward(rows, f, x, 0, dy, 0, g, m, s, dx, 0, dg, db);
        long t3 = System.nanoTime();
        for (int k = 0; k < calls; k++) LayerNorm.backward(rows, f, xs, 0, dys, 0, g, m, s, dxs, 0, dg, db);
        long t4 = System.nanoTime();
        for (int k = 0; k < calls; k++) RmsNorm.forward(rows, f, x, 0, g, 1e-3f, y, 0, s);
        long t5 = System.nanoTime();
        for (int k = 0; k < calls; k++) RmsNorm.forward(rows, f, xs, 0, g, 1e-3f, ys, 0, s);
        long t6 = System.nanoTime();
        if (round >= 0) {
          ra[round] = (t5 - t4) / (double) calls / rows; rn[round] = (t6 - t5) / (double) calls / rows;
          ta[round] = (t1 - t0) / (double) calls / rows; tn[round] = (t2 - t1) / (double) calls / rows;
          ba[round] = (t3 - t2) / (double) calls / rows; bn[round] = (t4 - t3) / (double) calls / rows;
        }
      }
      java.util.Arrays.sort(ta); java.util.Arrays.sort(tn); java.util.Arrays.sort(ba); java.util.Arrays.sort(bn);
      java.util.Arrays.sort(ra); java.util.Arrays.sort(rn);
      System.out.printf("%s forward array %.1f native %.1f, backward array %.1f native %.1f, rms forward array %.1f native %.1f ns/row%n",
          shape, ta[5], tn[5], ba[5], bn[5], ra[5], rn[5]);
    }
  }
}
