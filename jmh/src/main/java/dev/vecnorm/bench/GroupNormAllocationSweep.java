package dev.vecnorm.bench;

import dev.vecnorm.*;
import java.util.*;

/**
 * Group norm ({@code float[]}) over many shapes in one JVM (twenty-fourth session): per shape forward, and forward then
 * backward ({@code bwd}), in rounds; then the median of each and the bytes a call over 30 calls (ThreadMXBean). Labels:
 * {@code NCHW:NxCxS:G}, {@code NHWC:NxSxC:G}. {@code -Deach=true} prints every round (the warm-up curve).
 * <pre>java --add-modules jdk.incubator.vector -Xms3g -Xmx3g -Drounds=25 -Dreps=10 -cp jmh/target/benchmarks.jar dev.vecnorm.bench.GroupNormAllocationSweep NHWC:8x3136x64:32 NHWC:4x50x100:10 NHWC:32x196x256:32 NHWC:32x49x2048:32</pre>
 */

public class GroupNormAllocationSweep {
  static float[] fill(int n, int seed, float lo, float span) {
    return LayerNormSweep.fill(n, seed, lo, span); // the same hashed data
  }
  public static void main(String[] args) {
    int rounds = Integer.getInteger("rounds", 5), reps = Integer.getInteger("reps", 10);
    com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
    List<GroupShape> shapes = new ArrayList<>(); List<String> names = new ArrayList<>();
    for (String a : args) { // NCHW:NxCxS:G or NHWC:NxSxC:G
      String[] p = a.split(":"); String[] d = p[1].split("x"); int g = Integer.parseInt(p[2]);
      int n = Integer.parseInt(d[0]), b = Integer.parseInt(d[1]), c = Integer.parseInt(d[2]);
      shapes.add(p[0].equals("NCHW") ? GroupShape.nchw(n, b, c, g) : GroupShape.nhwc(n, b, c, g)); names.add(a);
    }
    int S = shapes.size();
    float[][] X = new float[S][], DY = new float[S][], Y = new float[S][], DX = new float[S][], G = new float[S][], B = new float[S][], M = new float[S][], I = new float[S][], DG = new float[S][], DB = new float[S][];
    int[][] dims = new int[S][];
    for (int k = 0; k < S; k++) {
      String[] p = names.get(k).split(":"); String[] d = p[1].split("x");
      int n = Integer.parseInt(d[0]), b = Integer.parseInt(d[1]), c = Integer.parseInt(d[2]), g = Integer.parseInt(p[2]);
      int ch = p[0].equals("NCHW") ? b : c, total = n * b * c;
      X[k] = fill(total, 1, -1, 4); DY[k] = fill(total, 7, -1, 2); Y[k] = new float[total]; DX[k] = new float[total];
      G[k] = fill(ch, 3, 0.5f, 1); B[k] = fill(ch, 5, -0.5f, 1); M[k] = new float[n * g]; I[k] = new float[n * g]; DG[k] = new float[ch]; DB[k] = new float[ch];
    }
    String[] ops = System.getProperty("op", "fwd,bwd").split(",");
    double[][][] t = new double[ops.length][S][rounds];
    for (int round = 0; round < rounds; round++)
      for (int k = 0; k < S; k++) for (int o = 0; o < ops.length; o++) {
        long best = Long.MAX_VALUE;
        for (int i = 0; i < reps; i++) {
          long t0 = System.nanoTime();
          call(ops[o], shapes.get(k), X[k], DY[k], Y[k], DX[k], G[k], B[k], M[k], I[k], DG[k], DB[k]);
          best = Math.min(best, System.nanoTime() - t0);
        }
        t[o][k][round] = best / 1e3;
      }
    int sk = Integer.getInteger("soak", -1);
    if (sk >= 0) { System.out.println("soak start"); soak(shapes.get(sk), X[sk], DY[sk], Y[sk], DX[sk], G[sk], B[sk], M[sk], I[sk], DG[sk], DB[sk]); }
    for (int o = 0; o < ops.length; o++) for (int k = 0; k < S; k++) {
      long b0 = mx.getCurrentThreadAllocatedBytes();
      for (int i = 0; i < 30; i++) call(ops[o], shapes.get(k), X[k], DY[k], Y[k], DX[k], G[k], B[k], M[k], I[k], DG[k], DB[k]);
      long bytes = (mx.getCurrentThreadAllocatedBytes() - b0) / 30;
      double[] a = t[o][k].clone(); Arrays.sort(a);
      System.out.printf("%s %s median %.1f us alloc %d B/call%n", ops[o], names.get(k), a[rounds / 2], bytes);
      if (Boolean.getBoolean("each")) { StringBuilder sb = new StringBuilder(); for (double d : t[o][k]) sb.append(String.format(" %.0f", d)); System.out.println(sb); }
    }
  }
  static void soak(GroupShape s, float[] x, float[] dy, float[] y, float[] dx, float[] g, float[] b, float[] m, float[] is, float[] dg, float[] db) {
    long end = System.nanoTime() + 4_000_000_000L;
    while (System.nanoTime() < end) call("fwd", s, x, dy, y, dx, g, b, m, is, dg, db);
  }
  static void call(String op, GroupShape s, float[] x, float[] dy, float[] y, float[] dx, float[] g, float[] b, float[] m, float[] is, float[] dg, float[] db) {
    if (op.equals("fwd")) GroupNorm.forward(s, x, 0, g, b, 1e-3f, y, 0, m, is);
    else { GroupNorm.forward(s, x, 0, g, b, 1e-3f, y, 0, m, is); GroupNorm.backward(s, x, 0, dy, 0, g, m, is, dx, 0, dg, db); }
  }
}
