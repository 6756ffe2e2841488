package dev.vecnorm.bench;

import dev.vecnorm.BatchNorm;
import dev.vecnorm.NormShape;
import dev.vecnorm.ParallelBatchNorm;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Walks of the float[] channels-first backward on short planes (issue 9 item 6, session 16), timed on one thread
 * in one JVM, alternating: the library ({@code lib}: BatchNorm.backward), ParallelBatchNorm on 1 and 2 threads, and
 * probe copies of the kernels walking the tensor channel by channel ({@code chan}: ParallelBatchNorm's
 * backwardChannel decomposition, reduce then apply per channel), in memory order ({@code mem}: reduce the tensor,
 * then apply it) and in blocks of channels ({@code blkN}: the planes of N channels reduced in memory order, then
 * applied; {@code memr}: memory order, the apply slab by slab from the last; {@code memd}: memory order, the apply
 * plane by plane from the last, as backwardApply walks planes of FUSED_MIN_INNER+ floats). Prints each walk's median time over rounds and its ratio to {@code lib}.
 *
 * <pre>java --add-modules jdk.incubator.vector -Xmx3g -cp jmh/target/benchmarks.jar dev.vecnorm.bench.ShortPlaneProbe
 *   [-Drounds=15] [-Dwalks=lib,par1,par2,chan,mem,blk4,blk8] NCHW:32x14x14x256 ...</pre>
 */
public final class ShortPlaneProbe {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();

  public static void main(String[] args) throws Exception {
    int rounds = Integer.getInteger("rounds", 15);
    String[] walks = System.getProperty("walks", "lib,par1,par2,chan,mem,blk4,blk8,blk16").split(",");
    try (ParallelBatchNorm p1 = new ParallelBatchNorm(1); ParallelBatchNorm p2 = new ParallelBatchNorm(2)) {
      for (String label : args) {
        Workload w = new Workload(label);
        LibraryOps ops = new LibraryOps();
        ops.trainingForward(w);
        NormShape s = w.shape;
        long bytes = 4L * s.size();
        int reps = (int) Math.max(3, Math.min(2000, 300_000_000L / (3 * bytes)));
        double[][] t = new double[walks.length][rounds];
        for (int r = -3; r < rounds; r++) { // three warm-up rounds
          for (int k = 0; k < walks.length; k++) {
            long t0 = System.nanoTime();
            for (int i = 0; i < reps; i++) run(walks[k], w, p1, p2);
            double us = (System.nanoTime() - t0) / 1e3 / reps;
            if (r >= 0) t[k][r] = us;
          }
        }
        double base = median(t[0]);
        StringBuilder sb = new StringBuilder(String.format("%-20s planes %5d x %5d of %4d floats, %6.1f MB a tensor:", label,
            s.outer(), s.channels(), s.inner(), bytes / 1e6));
        for (int k = 0; k < walks.length; k++) {
          double m = median(t[k]);
          sb.append(String.format("  %s %.0f (%.2f)", walks[k], m, m / base));
        }
        System.out.println(sb);
      }
    }
  }

  static double median(double[] a) {
    double[] b = a.clone();
    Arrays.sort(b);
    return b[b.length / 2];
  }

  static void run(String walk, Workload w, ParallelBatchNorm p1, ParallelBatchNorm p2) {
    NormShape s = w.shape;
    switch (walk) {
      case "lib" -> BatchNorm.backward(s, w.x, 0, w.dy, 0, w.gamma, w.mean, w.invStd, w.dx, 0, w.dGamma, w.dBeta);
      case "par1" -> p1.backward(s, w.x, 0, w.dy, 0, w.gamma, w.mean, w.invStd, w.dx, 0, w.dGamma, w.dBeta);
      case "par2" -> p2.backward(s, w.x, 0, w.dy, 0, w.gamma, w.mean, w.invStd, w.dx, 0, w.dGamma, w.dBeta);
      case "chan" -> blocks(w, 1, true);
      case "mem" -> blocks(w, s.channels(), false);
      case "memr" -> blocks(w, s.channels(), true);
      case "memd" -> descending(w);
      default -> {
        if (walk.startsWith("blkr")) blocks(w, Integer.parseInt(walk.substring(4)), true);
        else if (walk.startsWith("blk")) blocks(w, Integer.parseInt(walk.substring(3)), false);
        else if (walk.startsWith("kb")) blocks(w, Math.max(1, Integer.parseInt(walk.substring(2)) * 1024 / (8 * s.outer() * s.inner())), false);
        else throw new IllegalArgumentException(walk);
      }
    }
  }

  /** Channels in blocks of n: the block's planes reduced o ascending in memory order, then applied (reversed: o descending). */
  static void blocks(Workload w, int n, boolean reversed) {
    NormShape s = w.shape;
    int outer = (int) s.outer(), channels = s.channels(), inner = s.inner();
    float[] sumDy = w.dBeta, sumDyX = w.dGamma;
    double count = (double) outer * inner;
    for (int c0 = 0; c0 < channels; c0 += n) {
      int c1 = Math.min(channels, c0 + n);
      for (int o = 0; o < outer; o++) {
        for (int c = c0; c < c1; c++) reducePlane(w.x, w.dy, o, channels, inner, c, w.mean, sumDy, sumDyX);
      }
      for (int c = c0; c < c1; c++) sumDyX[c] *= w.invStd[c];
      if (reversed) {
        for (int o = outer - 1; o >= 0; o--) {
          for (int c = c0; c < c1; c++) applyPlane(w, o, channels, inner, c, count);
        }
      } else {
        for (int o = 0; o < outer; o++) {
          for (int c = c0; c < c1; c++) applyPlane(w, o, channels, inner, c, count);
        }
      }
    }
  }

  /** Memory order reduce, then the apply plane by plane from the tensor's last plane back to its first (o and c descending). */
  static void descending(Workload w) {
    NormShape s = w.shape;
    int outer = (int) s.outer(), channels = s.channels(), inner = s.inner();
    double count = (double) outer * inner;
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) reducePlane(w.x, w.dy, o, channels, inner, c, w.mean, w.dBeta, w.dGamma);
    }
    for (int c = 0; c < channels; c++) w.dGamma[c] *= w.invStd[c];
    for (int o = outer - 1; o >= 0; o--) {
      for (int c = channels - 1; c >= 0; c--) applyPlane(w, o, channels, inner, c, count);
    }
  }

  static void reducePlane(float[] x, float[] dy, int o, int channels, int inner, int c, float[] mean, float[] sumDy,
                          float[] sumDyXhat) {
    int upperBound = inner - inner % (2 * L), vectorBound = S.loopBound(inner);
    FloatVector m = FloatVector.broadcast(S, mean[c]);
    int xs = (o * channels + c) * inner, gs = xs;
    FloatVector g0 = FloatVector.zero(S), g1 = FloatVector.zero(S), h0 = FloatVector.zero(S), h1 = FloatVector.zero(S);
    int i = 0;
    for (; i < upperBound; i += 2 * L) {
      FloatVector dy0 = FloatVector.fromArray(S, dy, gs + i), dy1 = FloatVector.fromArray(S, dy, gs + i + L);
      g0 = g0.add(dy0);
      g1 = g1.add(dy1);
      h0 = dy0.fma(FloatVector.fromArray(S, x, xs + i).sub(m), h0);
      h1 = dy1.fma(FloatVector.fromArray(S, x, xs + i + L).sub(m), h1);
    }
    for (; i < vectorBound; i += L) {
      FloatVector dy0 = FloatVector.fromArray(S, dy, gs + i);
      g0 = g0.add(dy0);
      h0 = dy0.fma(FloatVector.fromArray(S, x, xs + i).sub(m), h0);
    }
    float sDy = g0.add(g1).reduceLanes(VectorOperators.ADD), sDyX = h0.add(h1).reduceLanes(VectorOperators.ADD);
    for (; i < inner; i++) {
      float g = dy[gs + i];
      sDy += g;
      sDyX = Math.fma(g, x[xs + i] - mean[c], sDyX);
    }
    if (o == 0) {
      sumDy[c] = sDy;
      sumDyXhat[c] = sDyX;
    } else {
      sumDy[c] += sDy;
      sumDyXhat[c] += sDyX;
    }
  }

  static void applyPlane(Workload w, int o, int channels, int inner, int c, double count) {
    float[] x = w.x, dy = w.dy, dx = w.dx;
    float a = w.gamma[c] * w.invStd[c];
    float b = (float) (-a * (double) w.invStd[c] * w.dGamma[c] / count), k = (float) (-a * (double) w.dBeta[c] / count);
    FloatVector va = FloatVector.broadcast(S, a), vb = FloatVector.broadcast(S, b), vk = FloatVector.broadcast(S, k);
    float mean = w.mean[c];
    FloatVector m = FloatVector.broadcast(S, mean);
    int off = (o * channels + c) * inner, vectorBound = S.loopBound(inner), i = 0;
    for (; i < vectorBound; i += L) {
      int p = off + i;
      FloatVector.fromArray(S, dy, p).fma(va, FloatVector.fromArray(S, x, p).sub(m).fma(vb, vk)).intoArray(dx, p);
    }
    for (; i < inner; i++) {
      int p = off + i;
      dx[p] = Math.fma(dy[p], a, Math.fma(x[p] - mean, b, k));
    }
  }

  private ShortPlaneProbe() {}
}
