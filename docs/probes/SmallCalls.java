import dev.vecnorm.*;
/**
 * Batch norm's small calls: BatchNorm.forwardTraining, forwardInference and backward per shape (NC:RxC, NHWC:NxHxWxC,
 * NCHW:NxHxWxC labels as the peers run), each the median of 15 rounds of ~60 ms of back-to-back calls (ns a call),
 * after 0.3 s of warm-up of every shape and op first. The thirtieth session ran it once per build, one JVM each
 * (`java --add-modules jdk.incubator.vector -cp CLASSES:/tmp/probes SmallCalls NC:32x64`); several shapes in one JVM
 * share the JIT's profiles (tiny shapes first slow the per-channel loops of wide ones).
 */
public class SmallCalls {
  public static void main(String[] a) {
    java.util.List<Runnable[]> cases = new java.util.ArrayList<>();
    double[] sink = {0};
    for (String sh : a) {
      String[] p = sh.split(":"); String[] d = p[1].split("x");
      NormShape s = p[0].equals("NC") ? NormShape.channelsLast(Integer.parseInt(d[0]), Integer.parseInt(d[1]))
          : p[0].equals("NHWC") ? NormShape.channelsLast(Integer.parseInt(d[0]) * Integer.parseInt(d[1]) * Integer.parseInt(d[2]), Integer.parseInt(d[3]))
          : NormShape.channelsFirst(Integer.parseInt(d[0]), Integer.parseInt(d[3]), Integer.parseInt(d[1]) * Integer.parseInt(d[2]));
      int n = (int) s.size(), c = s.channels();
      float[] x = new float[n], dy = new float[n], dx = new float[n], y = new float[n];
      java.util.Random r = new java.util.Random(1);
      for (int i = 0; i < n; i++) { x[i] = (float) r.nextGaussian(); dy[i] = (float) r.nextGaussian(); }
      float[] g = new float[c], b = new float[c], m = new float[c], v = new float[c], is = new float[c], dg = new float[c], db = new float[c], mm = new float[c], mv = new float[c];
      java.util.Arrays.fill(g, 1f); java.util.Arrays.fill(mv, 1f);
      BatchNorm.forwardTraining(s, x, 0, g, b, 1e-3f, y, 0, m, v, is);
      cases.add(new Runnable[] {
        () -> { BatchNorm.forwardTraining(s, x, 0, g, b, 1e-3f, y, 0, m, v, is); sink[0] += y[0]; },
        () -> { BatchNorm.forwardInference(s, x, 0, g, b, mm, mv, 1e-3f, y, 0); sink[0] += y[0]; },
        () -> { BatchNorm.backward(s, x, 0, dy, 0, g, m, is, dx, 0, dg, db); sink[0] += dx[0]; }});
    }
    for (Runnable[] rs : cases) for (Runnable op : rs) { long end = System.nanoTime() + 300_000_000L; while (System.nanoTime() < end) for (int i = 0; i < 100; i++) op.run(); }
    String[] names = {"train", "inf", "bwd"};
    for (int k = 0; k < a.length; k++) {
      StringBuilder sb = new StringBuilder(String.format("%-16s", a[k]));
      for (int o = 0; o < 3; o++) {
        Runnable op = cases.get(k)[o];
        double[] t = new double[15];
        for (int round = 0; round < 15; round++) {
          long calls = 0, t0 = System.nanoTime(), end = t0 + 60_000_000L, now;
          do { for (int i = 0; i < 50; i++) op.run(); calls += 50; } while ((now = System.nanoTime()) < end);
          t[round] = (now - t0) / (double) calls;
        }
        java.util.Arrays.sort(t);
        sb.append(String.format(" %s %8.1f", names[o], t[7]));
      }
      System.out.println(sb);
    }
    if (sink[0] == 42) System.out.println("!");
  }
}
