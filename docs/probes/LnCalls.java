import dev.vecnorm.*;
/**
 * LayerNorm.forward or backward on one RxF shape, back to back, ns a call for each of SECONDS one-second rounds:
 * LnCalls RxF fwd|bwd SECONDS. The thirtieth session ran it once per build (one JVM each) for the blocked backward.
 */
public class LnCalls {
  public static void main(String[] a) {
    String[] p = a[0].split("x");
    int rows = Integer.parseInt(p[0]), f = Integer.parseInt(p[1]);
    float[] x = new float[rows * f], y = new float[rows * f], dy = new float[rows * f], dx = new float[rows * f];
    java.util.Random r = new java.util.Random(1);
    for (int i = 0; i < x.length; i++) { x[i] = (float) r.nextGaussian(); dy[i] = (float) r.nextGaussian(); }
    float[] g = new float[f], b = new float[f], m = new float[rows], is = new float[rows], dg = new float[f], db = new float[f];
    java.util.Arrays.fill(g, 1f);
    LayerNorm.forward(rows, f, x, 0, g, b, 1e-3f, y, 0, m, is);
    double sink = 0;
    long secs = a.length > 2 ? Long.parseLong(a[2]) : 5;
    for (int round = 0; round < secs; round++) {
      long calls = 0, t0 = System.nanoTime(), end = t0 + 1_000_000_000L, now;
      do {
        for (int i = 0; i < 100; i++) {
          if (a[1].equals("fwd")) LayerNorm.forward(rows, f, x, 0, g, b, 1e-3f, y, 0, m, is);
          else LayerNorm.backward(rows, f, x, 0, dy, 0, g, m, is, dx, 0, dg, db);
        }
        calls += 100; sink += y[0] + dx[0];
      } while ((now = System.nanoTime()) < end);
      System.out.printf("%s %s %.1f ns/call%n", a[0], a[1], (now - t0) / (double) calls);
    }
    if (sink == 42) System.out.println("!");
  }
}
