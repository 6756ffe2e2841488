import dev.vecnorm.*;
/**
 * One batch-norm op on one NC shape, timed for 6 s after other NC shapes ran all three ops for 3 s each in the same
 * JVM (their per-channel loops then carry the JIT profile of those shapes): SmallAfter RxC OP [RxC ...], OP one of
 * train, inf, bwd. Without the other shapes it times the op alone.
 */
public class SmallAfter {
  public static void main(String[] a) {
    double sink = 0;
    for (int k = 2; k < a.length; k++) {
      String[] p = a[k].split("x");
      int n = Integer.parseInt(p[0]), c = Integer.parseInt(p[1]);
      sink += run(n, c, "all", 3_000_000_000L);
    }
    String[] p = a[0].split("x");
    sink += run(Integer.parseInt(p[0]), Integer.parseInt(p[1]), a[1], 6_000_000_000L);
    System.out.println(sink == 42 ? "!" : "");
  }
  static double run(int n, int c, String op, long nanos) {
    NormShape s = NormShape.channelsLast(n, c);
    float[] x = new float[n*c], dy = new float[n*c], dx = new float[n*c], y = new float[n*c];
    java.util.Random r = new java.util.Random(1);
    for (int i = 0; i < x.length; i++) { x[i] = (float) r.nextGaussian(); dy[i] = (float) r.nextGaussian(); }
    float[] g = new float[c], b = new float[c], m = new float[c], v = new float[c], is = new float[c], dg = new float[c], db = new float[c], mm = new float[c], mv = new float[c];
    java.util.Arrays.fill(g, 1f); java.util.Arrays.fill(mv, 1f);
    BatchNorm.forwardTraining(s, x, 0, g, b, 1e-3f, y, 0, m, v, is);
    double sink = 0; long end = System.nanoTime() + nanos, calls = 0, t0 = System.nanoTime();
    while (System.nanoTime() < end) for (int i = 0; i < 1000; i++, calls++) {
      if (op.equals("train") || op.equals("all")) BatchNorm.forwardTraining(s, x, 0, g, b, 1e-3f, y, 0, m, v, is);
      if (op.equals("inf") || op.equals("all")) BatchNorm.forwardInference(s, x, 0, g, b, mm, mv, 1e-3f, y, 0);
      if (op.equals("bwd") || op.equals("all")) BatchNorm.backward(s, x, 0, dy, 0, g, m, is, dx, 0, dg, db);
      sink += y[0] + dx[0];
    }
    System.out.printf("%dx%d %s %.1f ns/call%n", n, c, op, (System.nanoTime() - t0) / (double) calls);
    return sink;
  }
}
