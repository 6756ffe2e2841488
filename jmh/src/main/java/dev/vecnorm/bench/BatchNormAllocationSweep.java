package dev.vecnorm.bench;

import dev.vecnorm.*;
import java.util.*;

/**
 * Batch norm over many shapes in one JVM (twenty-fourth session): every shape's training forward, inference and backward
 * in rounds, all tensors live, then the bytes a call of each (best of three windows of 20 calls, ThreadMXBean). Native
 * segments with {@code -Dseg=true}. Labels: {@code NC:RxC}, {@code NHWC:NxSxC}, {@code NCHW:NxCxS}. Too few rounds leave
 * methods that run once a call in C1 (allocating): use 80 to tell that from a steady-state leak.
 * <pre>java --add-modules jdk.incubator.vector -Xms3g -Xmx3g -Dseg=true -Drounds=25 -cp jmh/target/benchmarks.jar dev.vecnorm.bench.BatchNormAllocationSweep NC:256x1024 NHWC:32x196x256 NC:8192x256 NCHW:32x256x196 NHWC:7x169x17 NCHW:7x17x169 NC:1000x100 NHWC:32x49x2048 NCHW:32x2048x49 NHWC:8x3136x64 NC:2000x1000 NCHW:8x3x50176 NC:300x4097</pre>
 */

/** BatchNorm (float[] and native) over many shapes in one JVM, then steady bytes a call per shape and op. */
public class BatchNormAllocationSweep {
  public static void main(String[] args) {
    int rounds = Integer.getInteger("rounds", 25), reps = Integer.getInteger("reps", 10);
    com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
    List<NormShape> shapes = new ArrayList<>();
    for (String a : args) { // NC:RxC NHWC:NxSxC NCHW:NxCxS
      String[] p = a.split(":"); String[] d = p[1].split("x");
      if (p[0].equals("NC")) shapes.add(NormShape.channelsLast(Integer.parseInt(d[0]), Integer.parseInt(d[1])));
      else if (p[0].equals("NHWC")) shapes.add(NormShape.channelsLast(Integer.parseInt(d[0]) * Integer.parseInt(d[1]), Integer.parseInt(d[2])));
      else shapes.add(NormShape.channelsFirst(Integer.parseInt(d[0]), Integer.parseInt(d[1]), Integer.parseInt(d[2])));
    }
    boolean seg = Boolean.getBoolean("seg");
    java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofAuto();
    int S = shapes.size();
    Object[][] bufs = new Object[S][];
    for (int k = 0; k < S; k++) {
      NormShape s = shapes.get(k); int n = (int) s.size(), c = s.channels();
      float[] x = new float[n], dy = new float[n];
      Random r = new Random(k); for (int i = 0; i < n; i++) { x[i] = (float) r.nextGaussian(); dy[i] = (float) r.nextGaussian(); }
      float[] g = new float[c]; Arrays.fill(g, 1.5f);
      java.lang.foreign.MemorySegment xs = arena.allocate(4L * n, 64), ys = arena.allocate(4L * n, 64), dys = arena.allocate(4L * n, 64), dxs = arena.allocate(4L * n, 64);
      java.lang.foreign.MemorySegment.copy(x, 0, xs, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, n);
      java.lang.foreign.MemorySegment.copy(dy, 0, dys, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, n);
      bufs[k] = new Object[] {x, dy, new float[n], new float[n], g, new float[c], new float[c], new float[c], new float[c], new float[c], new float[c], xs, ys, dys, dxs};
    }
    String[] ops = {"train", "infer", "bwd"};
    for (int round = 0; round < rounds; round++)
      for (int k = 0; k < S; k++) for (String op : ops) for (int i = 0; i < reps; i++) call(op, seg, shapes.get(k), bufs[k]);
    int sk = Integer.getInteger("soak", -1);
    if (sk >= 0) { long end = System.nanoTime() + 4_000_000_000L; while (System.nanoTime() < end) call("train", seg, shapes.get(sk), bufs[sk]); }
    for (int k = 0; k < S; k++) for (String op : ops) {
      long best = Long.MAX_VALUE;
      for (int w = 0; w < 3; w++) {
        long b0 = mx.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < 20; i++) call(op, seg, shapes.get(k), bufs[k]);
        best = Math.min(best, (mx.getCurrentThreadAllocatedBytes() - b0) / 20);
      }
      System.out.printf("%s %s %s alloc %d B/call%n", seg ? "seg" : "arr", op, args[k], best);
    }
  }
  static void call(String op, boolean seg, NormShape s, Object[] b) {
    float[] x = (float[]) b[0], dy = (float[]) b[1], y = (float[]) b[2], dx = (float[]) b[3], g = (float[]) b[4], be = (float[]) b[5], m = (float[]) b[6], v = (float[]) b[7], is = (float[]) b[8], dg = (float[]) b[9], db = (float[]) b[10];
    java.lang.foreign.MemorySegment xs = (java.lang.foreign.MemorySegment) b[11], ys = (java.lang.foreign.MemorySegment) b[12], dys = (java.lang.foreign.MemorySegment) b[13], dxs = (java.lang.foreign.MemorySegment) b[14];
    if (!seg) {
      if (op.equals("train")) BatchNorm.forwardTraining(s, x, 0, g, be, 1e-3f, y, 0, m, v, is);
      else if (op.equals("infer")) BatchNorm.forwardInference(s, x, 0, g, be, m, v, 1e-3f, y, 0);
      else BatchNorm.backward(s, x, 0, dy, 0, g, m, is, dx, 0, dg, db);
    } else {
      if (op.equals("train")) BatchNorm.forwardTraining(s, xs, 0, g, be, 1e-3f, ys, 0, m, v, is);
      else if (op.equals("infer")) BatchNorm.forwardInference(s, xs, 0, g, be, m, v, 1e-3f, ys, 0);
      else BatchNorm.backward(s, xs, 0, dys, 0, g, m, is, dxs, 0, dg, db);
    }
  }
}
