package dev.vecnorm.bench;

import dev.vecnorm.GroupNorm;
import dev.vecnorm.GroupShape;
import dev.vecnorm.ParallelNorms;
import java.util.Arrays;
import java.util.concurrent.CyclicBarrier;

/**
 * Stopwatch of GroupNorm on 1 and 2 threads: the facade, {@code ParallelNorms(1)} and
 * {@code ParallelNorms(2)}, medians of 7 loops, three repetitions (README, ParallelNorms), and the
 * machine's copy ceiling for the same bytes on 1 and 2 threads. Arguments: peers-style labels
 * ({@code NHWC:32x7x7x2048}, {@code NCHW:...}: N x H x W x C, 32 groups where 32 divides C, else
 * InstanceNorm); without arguments the two channels-last shapes of the README: row ranges split a batch
 * of one (1x64x64x320); a batch of two keeps whole samples (2x56x56x64).
 */
public final class GroupNormThreads {
  interface Op { void run(); }
  static double time(Op op, int reps) {
    long[] t = new long[7];
    for (int k = 0; k < 7; k++) {
      long s = System.nanoTime();
      for (int i = 0; i < reps; i++) op.run();
      t[k] = System.nanoTime() - s;
    }
    Arrays.sort(t);
    return t[3] / 1e3 / reps;
  }

  /**
   * µs per copy of {@code x} into {@code y} (y = x * 0.5, {@link BandwidthOps#copy}'s loop) with
   * {@code threads} threads each copying its contiguous part, {@code reps} times without synchronizing
   * between copies: the streaming ceiling for a forward's 1 read + 1 write, without any hand-off cost.
   * Median of 7.
   */
  static double copyMicros(float[] x, float[] y, int threads, int reps) throws Exception {
    long[] t = new long[7];
    for (int k = 0; k < 7; k++) {
      CyclicBarrier start = new CyclicBarrier(threads), end = new CyclicBarrier(threads);
      Thread[] ts = new Thread[threads - 1];
      for (int i = 1; i < threads; i++) {
        int part = i;
        ts[i - 1] = Thread.ofPlatform().start(() -> copyPart(x, y, part, threads, reps, start, end));
      }
      long s0 = System.nanoTime();
      copyPart(x, y, 0, threads, reps, start, end);
      t[k] = System.nanoTime() - s0;
      for (Thread th : ts) th.join();
    }
    Arrays.sort(t);
    return t[3] / 1e3 / reps;
  }

  private static void copyPart(float[] x, float[] y, int part, int parts, int reps, CyclicBarrier start, CyclicBarrier end) {
    int from = (int) ((long) x.length * part / parts), to = (int) ((long) x.length * (part + 1) / parts);
    try {
      start.await();
      for (int r = 0; r < reps; r++) BandwidthOps.copy(x, y, from, to, 0.5f);
      end.await();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  public static void main(String[] a) throws Exception {
    GroupShape[] shapes = a.length == 0 ? new GroupShape[] {GroupShape.nhwc(2, 3136, 64, 32), GroupShape.nhwc(1, 4096, 320, 32)}
        : Arrays.stream(a).map(NormsSide::groupShape).toArray(GroupShape[]::new);
    try (ParallelNorms p1 = new ParallelNorms(1); ParallelNorms p2 = new ParallelNorms(2)) {
      for (GroupShape s : shapes) {
        int n = (int) s.size();
        float[] x = new float[n], y = new float[n], dy = new float[n], dx = new float[n], g = new float[s.channels()], b = new float[s.channels()];
        java.util.Random r = new java.util.Random(1);
        for (int i = 0; i < n; i++) { x[i] = (float) r.nextGaussian(); dy[i] = (float) r.nextGaussian(); }
        Arrays.fill(g, 1f);
        float[] m = new float[s.statistics()], v = new float[s.statistics()], dg = new float[s.channels()], db = new float[s.channels()];
        int reps = s.size() > 1_000_000 ? 100 : 300;
        for (int w = 0; w < 3; w++) {
          double f0 = time(() -> GroupNorm.forward(s, x, 0, g, b, 1e-3f, y, 0, m, v), reps);
          double f1 = time(() -> p1.groupNormForward(s, x, 0, g, b, 1e-3f, y, 0, m, v), reps);
          double f2 = time(() -> p2.groupNormForward(s, x, 0, g, b, 1e-3f, y, 0, m, v), reps);
          double b0 = time(() -> GroupNorm.backward(s, x, 0, dy, 0, g, m, v, dx, 0, dg, db), reps);
          double b1 = time(() -> p1.groupNormBackward(s, x, 0, dy, 0, g, m, v, dx, 0, dg, db), reps);
          double b2 = time(() -> p2.groupNormBackward(s, x, 0, dy, 0, g, m, v, dx, 0, dg, db), reps);
          double c1 = copyMicros(x, y, 1, reps), c2 = copyMicros(x, y, 2, reps);
          System.out.printf("%s fwd facade %.1f p1 %.1f p2 %.1f | bwd facade %.1f p1 %.1f p2 %.1f | copy 1t %.1f 2t %.1f (%.1f GB/s)%n",
              s, f0, f1, f2, b0, b1, b2, c1, c2, 8.0 * n / c2 / 1e3);
        }
      }
    }
  }
}
