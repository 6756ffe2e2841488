package dev.vecnorm.bench;

import dev.vecnorm.LayerNorm;
import java.util.*;

/**
 * Layer and RMS norm, {@code float[]} and 64-byte-aligned native, over several {@code ROWSxFEATURES} shapes in one JVM
 * (twenty-fourth session): per shape and operation the median over rounds of the best of {@code reps} calls, then the
 * bytes a call allocated over 50 more calls (ThreadMXBean) and a hash of the outputs. Operations ({@code -Dop=a,b}, run
 * interleaved): fwd, nfwd (native), rms, nrms, bwd, nbwd, rbwd (RMS backward). Which kernels run is the JVM's whole
 * history, as in a program: the allocation sweep found C2's boxing only with several widths in one JVM.
 * <pre>java --add-modules jdk.incubator.vector -Xms3g -Xmx3g -Dop=fwd -Drounds=7 -cp jmh/target/benchmarks.jar dev.vecnorm.bench.LayerNormSweep 4096x1000 4096x1008 8192x520 1000x4100 4096x768</pre>
 */

public class LayerNormSweep {
  static float[] fill(int n, int seed, float lo, float span) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) { int h = (i + seed) * 0x9E3779B1; h ^= h >>> 15; h *= 0x85EBCA6B; h ^= h >>> 13; a[i] = lo + span * ((h >>> 8) / (float) (1 << 24)); }
    return a;
  }
  public static void main(String[] args) {
    int rounds = Integer.getInteger("rounds", 15), reps = Integer.getInteger("reps", 20);
    String[] ops = System.getProperty("op", "bwd").split(",");
    List<int[]> shapes = new ArrayList<>();
    for (String s : args) { String[] p = s.split("x"); shapes.add(new int[]{Integer.parseInt(p[0]), Integer.parseInt(p[1])}); }
    int S = shapes.size();
    float[][] X = new float[S][], DY = new float[S][], DX = new float[S][], G = new float[S][], B = new float[S][], M = new float[S][], I = new float[S][], DG = new float[S][], DB = new float[S][];
    for (int k = 0; k < S; k++) {
      int r = shapes.get(k)[0], f = shapes.get(k)[1];
      X[k] = fill(r * f, 1, -1, 4); DY[k] = fill(r * f, 7, -1, 2); DX[k] = new float[r * f];
      G[k] = fill(f, 3, 0.5f, 1); B[k] = fill(f, 5, -0.5f, 1); M[k] = new float[r]; I[k] = new float[r];
      DG[k] = new float[f]; DB[k] = new float[f];
      LayerNorm.forward(r, f, X[k], 0, G[k], B[k], 1e-3f, DX[k], 0, M[k], I[k]);
    }
    java.lang.foreign.MemorySegment[] SX = new java.lang.foreign.MemorySegment[S], SDY = SX.clone(), SDX = SX.clone();
    java.lang.foreign.Arena arena = java.lang.foreign.Arena.global();
    long pad = Long.getLong("pad", 0);
    for (int k = 0; k < S; k++) {
      long bytes = 4L * X[k].length;
      SX[k] = arena.allocate(bytes + 64, 64).asSlice(pad); SDY[k] = arena.allocate(bytes + 64, 64).asSlice(pad); SDX[k] = arena.allocate(bytes + 64, 64).asSlice(pad);
      java.lang.foreign.MemorySegment.copy(X[k], 0, SX[k], java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, X[k].length);
      java.lang.foreign.MemorySegment.copy(DY[k], 0, SDY[k], java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, DY[k].length);
    }
    double[][][] tt = new double[ops.length][S][rounds];
    for (int round = 0; round < rounds; round++) {
      for (int k = 0; k < S; k++) for (int oi = 0; oi < ops.length; oi++) {
        String op = ops[oi]; double[][] t = tt[oi];
        int r = shapes.get(k)[0], f = shapes.get(k)[1];
        long best = Long.MAX_VALUE;
        for (int i = 0; i < reps; i++) {
          long t0 = System.nanoTime();
          if (op.equals("bwd")) LayerNorm.backward(r, f, X[k], 0, DY[k], 0, G[k], M[k], I[k], DX[k], 0, DG[k], DB[k]);
          else if (op.equals("nbwd")) LayerNorm.backward(r, f, SX[k], 0, SDY[k], 0, G[k], M[k], I[k], SDX[k], 0, DG[k], DB[k]);
          else if (op.equals("rbwd")) dev.vecnorm.RmsNorm.backward(r, f, X[k], 0, DY[k], 0, G[k], I[k], DX[k], 0, DG[k]);
          else if (op.equals("nfwd")) LayerNorm.forward(r, f, SX[k], 0, G[k], B[k], 1e-3f, SDX[k], 0, M[k], I[k]);
          else if (op.equals("nrms")) dev.vecnorm.RmsNorm.forward(r, f, SX[k], 0, G[k], 1e-3f, SDX[k], 0, I[k]);
          else if (op.equals("rms")) dev.vecnorm.RmsNorm.forward(r, f, X[k], 0, G[k], 1e-3f, DX[k], 0, I[k]);
          else LayerNorm.forward(r, f, X[k], 0, G[k], B[k], 1e-3f, DX[k], 0, M[k], I[k]);
          long dt = System.nanoTime() - t0;
          if (i >= reps / 2) best = Math.min(best, dt);
        }
        t[k][round] = best / 1e3;
      }
    }
    for (int oi = 0; oi < ops.length; oi++) { String op = ops[oi]; double[][] t = tt[oi];
    com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
    for (int k = 0; k < S; k++) {
      int r0 = shapes.get(k)[0], f0 = shapes.get(k)[1];
      long b0 = mx.getCurrentThreadAllocatedBytes();
      for (int i = 0; i < 50; i++) {
        if (op.equals("bwd")) LayerNorm.backward(r0, f0, X[k], 0, DY[k], 0, G[k], M[k], I[k], DX[k], 0, DG[k], DB[k]);
        else if (op.equals("rms")) dev.vecnorm.RmsNorm.forward(r0, f0, X[k], 0, G[k], 1e-3f, DX[k], 0, I[k]);
        else if (op.equals("rbwd")) dev.vecnorm.RmsNorm.backward(r0, f0, X[k], 0, DY[k], 0, G[k], I[k], DX[k], 0, DG[k]);
        else if (op.equals("nbwd")) LayerNorm.backward(r0, f0, SX[k], 0, SDY[k], 0, G[k], M[k], I[k], SDX[k], 0, DG[k], DB[k]);
        else if (op.equals("nfwd")) LayerNorm.forward(r0, f0, SX[k], 0, G[k], B[k], 1e-3f, SDX[k], 0, M[k], I[k]);
        else if (op.equals("nrms")) dev.vecnorm.RmsNorm.forward(r0, f0, SX[k], 0, G[k], 1e-3f, SDX[k], 0, I[k]);
        else LayerNorm.forward(r0, f0, X[k], 0, G[k], B[k], 1e-3f, DX[k], 0, M[k], I[k]);
      }
      System.out.printf("alloc %s %dx%d %d B/call%n", op, r0, f0, (mx.getCurrentThreadAllocatedBytes() - b0) / 50);
    }
    for (int k = 0; k < S; k++) {
      double[] a = t[k].clone(); Arrays.sort(a);
      int r = shapes.get(k)[0], f = shapes.get(k)[1];
      long h = 0; for (float v : DX[k]) h = h * 31 + Float.floatToRawIntBits(v);
      for (float v : DG[k]) h = h * 31 + Float.floatToRawIntBits(v);
      System.out.printf("%s %dx%d median %.1f us  min %.1f  ns/elem %.3f hash %x%n", op, r, f, a[rounds / 2], a[0], a[rounds / 2] * 1e3 / ((double) r * f), h);
    }
    }
  }
}
