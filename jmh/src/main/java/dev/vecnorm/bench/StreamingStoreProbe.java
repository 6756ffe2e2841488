package dev.vecnorm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Locale;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Whether one large {@code System.arraycopy} / {@code MemorySegment.copy} writes its destination with
 * non-temporal stores on this JVM and CPU, and whether the batch-norm outputs gain from being staged through one.
 * HotSpot's x86 disjoint arraycopy stub, where MaxVectorSize is 64 (AVX-512), copies a call of at least 2.5 MB
 * (2621440 bytes) in 256-byte blocks of streaming stores ({@code arraycopy_avx3_large}, then an sfence); below
 * that, and on AVX2, it uses ordinary stores, whose destination lines are first read for ownership. So a copy of
 * a tensor far larger than the caches moves 2 tensor-sized transfers in one call of 2.5 MB or more, and 3 in
 * calls of 2 MiB or in a vector loop.
 *
 * <p>Modes (MiB throughout; run each under the measurement lock):
 * <ul>
 * <li>default: rounds of one call of each copy variant, in a rotating order, in one JVM; each block prints the
 *     median GB/s (bytes read + written) of 15 rounds after 5 warm ones. float[] copies in one call, in 2 MiB and
 *     3 MiB calls, and a FloatVector loop; native-to-native and heap-to-native {@code MemorySegment.copy} likewise;
 *     an affine map y = x * a + b written directly, or staged through a 3 MiB / 2 MiB array. {@code --mb 51}
 *     sets the tensor size, {@code --blocks 5} the blocks.</li>
 * <li>{@code --pair}: only x, y and the staging arrays, one variant per block (so the cache holds what that
 *     variant leaves from call to call): the affine map direct, or staged in 2.5/3/4 MiB chunks.</li>
 * <li>{@code --library LABEL} (N x H x W x C labels, as the peers harness reads them): the library's inference
 *     forward into y against the same calls on chunks of whole rows / samples of at least 2.5 MB into a staging
 *     array that {@code MemorySegment.copy} writes into y, and the two halves alone; with {@code --training} the
 *     training forward (moments, then the staged normalize), with {@code --backward} the backward (reduce, then
 *     the staged apply into dx), with {@code --two} the inference forward on 2 threads, each with its own stage.</li>
 * </ul>
 * <pre>flock /tmp/vecnorm-measure.lock java --sun-misc-unsafe-memory-access=allow --add-modules jdk.incubator.vector \
 *     -Xms1g -Xmx1g -XX:+AlwaysPreTouch -cp jmh/target/benchmarks.jar dev.vecnorm.bench.StreamingStoreProbe [--library NHWC:64x56x56x64]</pre>
 *
 * <p>What it showed (eleventh session, engineer oop11; README, non-temporal-stores section): the streaming path is
 * real, a 51 MiB native-to-native {@code MemorySegment.copy} in one call or in 3 MiB calls ran at 13.5-13.7 GB/s
 * against 8.2-8.3 GB/s in 2 MiB calls or a vector loop (1.65x); float[] {@code System.arraycopy} gets it only
 * from compiled code (12.4 GB/s in 3 MiB calls once compiled; 6-7 GB/s from an interpreted caller, which copies
 * in the runtime without the stub). But staging the forward's output does not pay here: the kernel's pass into a
 * staging array of at least 2.5 MB (larger than this CPU's 2 MiB L2) and the copy out of it run one after the
 * other, where the direct kernel overlaps its reads and writes. {@code --library NHWC:64x56x56x64} (49 MiB):
 * staged 0.88-1.03x the direct inference in five runs; NCHW 0.94-1.03x; training 0.90-1.03x; NHWC:16x56x56x64
 * (12 MiB, cached) 0.56x, as the streamed y leaves the cache; NHWC:128x56x56x64 (98 MiB) 1.19x in one run, but
 * the library's own staged path toggled in one JVM (commit 2c246f5, reverted) gave 1.01x inference, 0.85x
 * training on NHWC and 0.95x / 0.97x on NCHW. Backward (reduce, then the apply staged into dx, against reduce then
 * apply): 0.69-0.94x.
 */
public final class StreamingStoreProbe {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.nativeOrder());
  private static final int MB = 1 << 20;

  private StreamingStoreProbe() {}

  /** {@code --backward}: the library mode times the backward (dx out of place) instead of the inference forward. */
  static boolean backward;

  /** {@code --two}: the library mode times the inference forward on 2 threads, each on half the units, each with its own stage. */
  static boolean two;

  static void vectorCopy(float[] src, float[] dst, int n) {
    int i = 0, bound = S.loopBound(n);
    for (; i < bound; i += S.length()) FloatVector.fromArray(S, src, i).intoArray(dst, i);
    for (; i < n; i++) dst[i] = src[i];
  }

  static void vectorCopy(MemorySegment src, MemorySegment dst, long n) {
    long i = 0, bound = S.loopBound(n);
    for (; i < bound; i += S.length()) FloatVector.fromMemorySegment(S, src, i * 4, ByteOrder.nativeOrder()).intoMemorySegment(dst, i * 4, ByteOrder.nativeOrder());
    for (; i < n; i++) dst.setAtIndex(F, i, src.getAtIndex(F, i));
  }

  static void chunkedCopy(float[] src, float[] dst, int n, int chunk) {
    for (int i = 0; i < n; i += chunk) System.arraycopy(src, i, dst, i, Math.min(chunk, n - i));
  }

  static void chunkedCopy(MemorySegment src, MemorySegment dst, long bytes, long chunk) {
    for (long i = 0; i < bytes; i += chunk) MemorySegment.copy(src, i, dst, i, Math.min(chunk, bytes - i));
  }

  static void affine(float[] x, int from, float[] y, int yFrom, int n, float a, float b) {
    FloatVector va = FloatVector.broadcast(S, a), vb = FloatVector.broadcast(S, b);
    int i = 0, bound = S.loopBound(n);
    for (; i < bound; i += S.length()) FloatVector.fromArray(S, x, from + i).fma(va, vb).intoArray(y, yFrom + i);
    for (; i < n; i++) y[yFrom + i] = Math.fma(x[from + i], a, b);
  }

  static void stagedAffine(float[] x, float[] y, int n, float[] stage, float a, float b) {
    for (int i = 0; i < n; i += stage.length) {
      int len = Math.min(stage.length, n - i);
      affine(x, i, stage, 0, len, a, b);
      System.arraycopy(stage, 0, y, i, len);
    }
  }

  /** As {@link #stagedAffine}, with the staging array written into y by {@code MemorySegment.copy} (Unsafe.copyMemory). */
  static void stagedAffineSegment(float[] x, MemorySegment y, int n, float[] stage, MemorySegment stageSeg, float a, float b) {
    for (int i = 0; i < n; i += stage.length) {
      int len = Math.min(stage.length, n - i);
      affine(x, i, stage, 0, len, a, b);
      MemorySegment.copy(stageSeg, 0, y, 4L * i, 4L * len);
    }
  }

  public static void main(String[] args) {
    int mb = 51, blocks = 5;
    boolean pair = false, training = false;
    backward = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--mb" -> mb = Integer.parseInt(args[++i]);
        case "--blocks" -> blocks = Integer.parseInt(args[++i]);
        case "--pair" -> pair = true;
        case "--training" -> training = true;
        case "--backward" -> backward = true;
        case "--two" -> two = true;
        case "--library" -> {
          library(args[++i], blocks, training);
          return;
        }
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    int n = mb * MB / 4;
    long bytes = 4L * n;
    if (pair) {
      pair(n, blocks);
      return;
    }
    float[] src = new float[n], dst = new float[n], stage3 = new float[3 * MB / 4], stage2 = new float[2 * MB / 4];
    for (int i = 0; i < n; i++) src[i] = i * 0.5f;
    Arena arena = Arena.ofShared();
    MemorySegment ns = arena.allocate(bytes, 64), nd = arena.allocate(bytes, 64);
    MemorySegment.copy(src, 0, ns, F, 0, n);
    MemorySegment hs = MemorySegment.ofArray(src);
    String[] names = {"arraycopy 1 call", "arraycopy 2MB calls", "arraycopy 3MB calls", "vector loop",
        "seg n->n 1 call", "seg n->n 2MB", "seg n->n 3MB", "seg vector n->n", "seg h->n 1 call", "seg h->n 2MB", "seg h->n 3MB",
        "affine direct", "affine staged 3MB", "affine staged 2MB", "affine staged seg 3MB"};
    long[] traffic = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
    MemorySegment hd = MemorySegment.ofArray(dst), stage3Seg = MemorySegment.ofArray(stage3);
    Runnable[] calls = {
        () -> System.arraycopy(src, 0, dst, 0, n),
        () -> chunkedCopy(src, dst, n, 2 * MB / 4),
        () -> chunkedCopy(src, dst, n, 3 * MB / 4),
        () -> vectorCopy(src, dst, n),
        () -> MemorySegment.copy(ns, 0, nd, 0, bytes),
        () -> chunkedCopy(ns, nd, bytes, 2 * MB),
        () -> chunkedCopy(ns, nd, bytes, 3 * MB),
        () -> vectorCopy(ns, nd, n),
        () -> MemorySegment.copy(hs, 0, nd, 0, bytes),
        () -> chunkedCopy(hs, nd, bytes, 2 * MB),
        () -> chunkedCopy(hs, nd, bytes, 3 * MB),
        () -> affine(src, 0, dst, 0, n, 1.5f, 0.25f),
        () -> stagedAffine(src, dst, n, stage3, 1.5f, 0.25f),
        () -> stagedAffine(src, dst, n, stage2, 1.5f, 0.25f),
        () -> stagedAffineSegment(src, hd, n, stage3, stage3Seg, 1.5f, 0.25f),
    };
    System.out.printf(Locale.ROOT, "%d MiB tensor, %d-bit vectors; GB/s (read + write bytes) per block%n", mb, S.vectorBitSize());
    double[][] gbs = new double[calls.length][blocks];
    for (int blk = 0; blk < blocks; blk++) {
      long[][] t = new long[calls.length][15];
      for (int r = -5; r < 15; r++) {
        for (int k = 0; k < calls.length; k++) {
          int c = Math.floorMod(k + r, calls.length);
          long s = System.nanoTime();
          calls[c].run();
          long e = System.nanoTime();
          if (r >= 0) t[c][r] = e - s;
        }
      }
      for (int c = 0; c < calls.length; c++) {
        Arrays.sort(t[c]);
        gbs[c][blk] = traffic[c] * bytes / (double) t[c][7];
      }
    }
    for (int c = 0; c < calls.length; c++) {
      double[] g = gbs[c].clone();
      Arrays.sort(g);
      System.out.printf(Locale.ROOT, "%-22s median %6.1f GB/s  blocks %s%n", names[c], g[g.length / 2], fmt(gbs[c]));
    }
    if (dst[n - 1] == 42) System.out.println(); // keep the results live
  }

  /**
   * {@code --pair}: only x, y and the staging array, one variant per block (5 warm and 15 timed calls), so that
   * the cache holds what that variant leaves there from call to call, as in a training or inference loop:
   * the affine map written directly, or staged in 2.5 MB / 3 MB / 4 MB chunks and copied by MemorySegment.copy,
   * or in 3 MB chunks copied by System.arraycopy. GB/s counts x read and y written.
   */
  static void pair(int n, int blocks) {
    float[] x = new float[n], y = new float[n], stage = new float[4 * MB / 4];
    for (int i = 0; i < n; i++) x[i] = i * 0.5f;
    MemorySegment ys = MemorySegment.ofArray(y), ss = MemorySegment.ofArray(stage);
    float[] s25 = new float[2621440 / 4 + 16], s3 = new float[3 * MB / 4];
    MemorySegment ss25 = MemorySegment.ofArray(s25), ss3 = MemorySegment.ofArray(s3);
    String[] names = {"affine direct", "staged seg 2.5MB", "staged seg 3MB", "staged seg 4MB", "staged arraycopy 3MB"};
    Runnable[] calls = {
        () -> affine(x, 0, y, 0, n, 1.5f, 0.25f),
        () -> stagedAffineSegment(x, ys, n, s25, ss25, 1.5f, 0.25f),
        () -> stagedAffineSegment(x, ys, n, s3, ss3, 1.5f, 0.25f),
        () -> stagedAffineSegment(x, ys, n, stage, ss, 1.5f, 0.25f),
        () -> stagedAffine(x, y, n, s3, 1.5f, 0.25f),
    };
    double[][] gbs = new double[calls.length][blocks];
    for (int blk = 0; blk < blocks; blk++) {
      for (int c = 0; c < calls.length; c++) gbs[c][blk] = 8.0 * n / (1e3 * LayerNormCopyProbe.block(calls[c]));
    }
    System.out.printf(Locale.ROOT, "pair: %.1f MiB x and y, %d-bit vectors; GB/s (x read + y written) per block%n", n / 262144.0, S.vectorBitSize());
    for (int c = 0; c < calls.length; c++) {
      double[] g = gbs[c].clone();
      Arrays.sort(g);
      System.out.printf(Locale.ROOT, "%-22s median %6.1f GB/s  blocks %s%n", names[c], g[g.length / 2], fmt(gbs[c]));
    }
  }

  /**
   * {@code --library LABEL} (e.g. NHWC:64x56x56x64, NCHW:64x56x56x64): the library's inference forward written
   * directly into y, against the same call on chunks of whole rows (channels-last) or samples (channels-first)
   * of at least 2.5 MB into a staging array that {@code MemorySegment.copy} then writes into y; and the two
   * halves of the staged path alone (chunks normalized into the staging array without the copy; the staging
   * array copied into each chunk of y without the normalize). One variant per block, as {@code --pair}.
   */
  static void library(String label, int blocks, boolean training) {
    String[] lp = label.split(":");
    int[] d = Arrays.stream(lp[1].split("x")).mapToInt(Integer::parseInt).toArray();
    boolean last = lp[0].equals("NHWC");
    // Labels are N x H x W x C for every layout, as the peers harness reads them (Workload.parse).
    int c = d[3], plane = d[1] * d[2], units = last ? d[0] * plane : d[0], unit = last ? c : c * plane;
    dev.vecnorm.NormShape shape = last ? dev.vecnorm.NormShape.channelsLast(units, c) : dev.vecnorm.NormShape.channelsFirst(units, c, plane);
    int n = units * unit, per = (2621440 / 4 + unit - 1) / unit;
    float[] x = new float[n], y = new float[n], stage = new float[per * unit];
    java.util.Random r = new java.util.Random(1);
    for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
    float[] g = new float[c], b = new float[c], m = new float[c], v = new float[c];
    Arrays.fill(g, 1.1f); Arrays.fill(b, 0.1f); Arrays.fill(m, 0.05f); Arrays.fill(v, 0.9f);
    MemorySegment ys = MemorySegment.ofArray(y), ss = MemorySegment.ofArray(stage);
    java.util.function.IntFunction<dev.vecnorm.NormShape> shapeOf =
        k -> last ? dev.vecnorm.NormShape.channelsLast(k, c) : dev.vecnorm.NormShape.channelsFirst(k, c, plane);
    Runnable direct = () -> dev.vecnorm.BatchNorm.forwardInference(shape, x, 0, g, b, m, v, 1e-3f, y, 0);
    Runnable staged = () -> stagedRange(x, y, ys, 0, units, per, unit, c, plane, last, g, b, m, v, stage, ss);
    // The normalize alone, step units at a time, each into the stage's start.
    java.util.function.IntConsumer normalizeSteps = step -> {
      for (int u = 0; u < units; u += step) {
        dev.vecnorm.BatchNorm.forwardInference(shapeOf.apply(Math.min(step, units - u)), x, u * unit, g, b, m, v, 1e-3f, stage, 0);
      }
    };
    Runnable normalizeOnly = () -> normalizeSteps.accept(per);
    Runnable copyOnly = () -> {
      for (int u = 0; u < units; u += per) {
        int k = Math.min(per, units - u);
        MemorySegment.copy(ss, 0, ys, 4L * u * unit, 4L * k * unit);
      }
    };
    // Zig-zag: the copy reads the stage forward, so the stage's end is what the L2 still holds; the next chunk is
    // normalized into the stage in sub-blocks from the end back to the start, starting on those lines.
    int sub = Math.max(1, per / 8);
    Runnable zigzag = () -> {
      for (int u = 0; u < units; u += per) {
        int k = Math.min(per, units - u);
        for (int j = ((k - 1) / sub) * sub; j >= 0; j -= sub) {
          dev.vecnorm.BatchNorm.forwardInference(shapeOf.apply(Math.min(sub, k - j)), x, (u + j) * unit, g, b, m, v, 1e-3f, stage, j * unit);
        }
        MemorySegment.copy(ss, 0, ys, 4L * u * unit, 4L * k * unit);
      }
    };
    // The normalize alone into one eighth of the stage, rewritten for every sub-block: x's read with L2-resident writes.
    Runnable normalizeSmall = () -> normalizeSteps.accept(sub);
    String[] names = {"direct", "staged", "normalize into stage", "copy stage into y", "staged zigzag", "normalize into stage/8"};
    Runnable[] calls = {direct, staged, normalizeOnly, copyOnly, zigzag, normalizeSmall};
    if (two) {
      // Two threads, as ParallelBatchNorm splits a tensor: the calling thread takes the first half, a pool thread
      // the second; direct calls on each half, or each half staged through its own staging array.
      java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(1, t0 -> {
        Thread t = new Thread(t0);
        t.setDaemon(true);
        return t;
      });
      int half = units / 2;
      float[] stage2 = new float[per * unit];
      MemorySegment ss2 = MemorySegment.ofArray(stage2);
      java.util.function.IntBinaryOperator directRange = (from, to) -> {
        dev.vecnorm.NormShape cs = last ? dev.vecnorm.NormShape.channelsLast(to - from, c) : dev.vecnorm.NormShape.channelsFirst(to - from, c, plane);
        dev.vecnorm.BatchNorm.forwardInference(cs, x, from * unit, g, b, m, v, 1e-3f, y, from * unit);
        return 0;
      };
      names = new String[] {"2 threads direct", "2 threads staged"};
      calls = new Runnable[] {
          () -> {
            var f = pool.submit(() -> directRange.applyAsInt(half, units));
            directRange.applyAsInt(0, half);
            try {
              f.get();
            } catch (Exception e) {
              throw new IllegalStateException(e);
            }
          },
          () -> {
            var f = pool.submit(() -> stagedRange(x, y, ys, half, units, per, unit, c, plane, last, g, b, m, v, stage2, ss2));
            stagedRange(x, y, ys, 0, half, per, unit, c, plane, last, g, b, m, v, stage, ss);
            try {
              f.get();
            } catch (Exception e) {
              throw new IllegalStateException(e);
            }
          }};
    }
    if (backward) {
      // Backward, dx out of place: the library's call; its reduce then its apply into dx (the two phases the staged
      // path needs); and the reduce then the apply in chunks into the stage, copied into dx.
      float[] dy = new float[n], dx = new float[n], mean = new float[c], inv = new float[c], sd = new float[c], sx = new float[c];
      for (int i = 0; i < n; i++) dy[i] = (float) r.nextGaussian();
      Arrays.fill(mean, 0.05f);
      Arrays.fill(inv, 1.05f);
      MemorySegment dxs = MemorySegment.ofArray(dx);
      long count = (long) n / c;
      names = new String[] {"backward direct", "reduce + apply", "reduce + staged apply"};
      calls = new Runnable[] {
          () -> dev.vecnorm.BatchNorm.backward(shape, x, 0, dy, 0, g, mean, inv, dx, 0, sd, sx),
          () -> {
            dev.vecnorm.BatchNorm.backwardReduce(shape, x, 0, dy, 0, mean, inv, sd, sx);
            dev.vecnorm.BatchNorm.backwardApply(shape, x, 0, dy, 0, g, mean, inv, sd, sx, count, dx, 0);
          },
          () -> {
            dev.vecnorm.BatchNorm.backwardReduce(shape, x, 0, dy, 0, mean, inv, sd, sx);
            for (int u = 0; u < units; u += per) {
              int k = Math.min(per, units - u);
              dev.vecnorm.BatchNorm.backwardApply(shapeOf.apply(k), x, u * unit, dy, u * unit, g, mean, inv, sd, sx, count, stage, 0);
              MemorySegment.copy(ss, 0, dxs, 4L * u * unit, 4L * k * unit);
            }
          }};
    }
    if (training) {
      // Training forward: the library's call against its moments (one read of x) and the staged normalize.
      float[] bm = new float[c], bv = new float[c], is = new float[c], mm = new float[c];
      dev.vecnorm.Moments mo = new dev.vecnorm.Moments(c);
      Runnable momentsOnly = () -> {
        dev.vecnorm.BatchNorm.moments(shape, x, 0, mo);
        mo.meanTo(mm);
        for (int k = 0; k < c; k++) is[k] = (float) (1 / Math.sqrt(mo.m2(k) / mo.count() + 1e-3));
      };
      names = new String[] {"training direct", "training staged", "moments only"};
      calls = new Runnable[] {
          () -> dev.vecnorm.BatchNorm.forwardTraining(shape, x, 0, g, b, 1e-3f, y, 0, bm, bv, is),
          () -> {
            momentsOnly.run();
            for (int u = 0; u < units; u += per) {
              int k = Math.min(per, units - u);
              dev.vecnorm.BatchNorm.normalize(shapeOf.apply(k), x, u * unit, mm, is, g, b, stage, 0);
              MemorySegment.copy(ss, 0, ys, 4L * u * unit, 4L * k * unit);
            }
          },
          momentsOnly};
    }
    double[][] us = new double[calls.length][blocks];
    for (int blk = 0; blk < blocks; blk++) {
      for (int k = 0; k < calls.length; k++) us[k][blk] = LayerNormCopyProbe.block(calls[k]); // median of 15 after 5 warm
    }
    System.out.printf(Locale.ROOT, "library %s %s (%.1f MiB), chunks of %d %s (%.2f MiB); median us per block%n", label,
        backward ? "backward" : training ? "training forward" : "inference", n / 262144.0, per, last ? "rows" : "samples", per * unit / 262144.0);
    for (int k = 0; k < calls.length; k++) {
      double[] q = us[k].clone();
      Arrays.sort(q);
      System.out.printf(Locale.ROOT, "%-22s median %8.0f us  blocks %s%n", names[k], q[q.length / 2], fmt(us[k]));
    }
  }

  /** Units [from, to) of the inference forward staged through {@code stage} in chunks of {@code per} units. */
  static int stagedRange(float[] x, float[] y, MemorySegment ys, int from, int to, int per, int unit, int c, int plane,
                         boolean last, float[] g, float[] b, float[] m, float[] v, float[] stage, MemorySegment ss) {
    for (int u = from; u < to; u += per) {
      int k = Math.min(per, to - u);
      dev.vecnorm.NormShape cs = last ? dev.vecnorm.NormShape.channelsLast(k, c) : dev.vecnorm.NormShape.channelsFirst(k, c, plane);
      dev.vecnorm.BatchNorm.forwardInference(cs, x, u * unit, g, b, m, v, 1e-3f, stage, 0);
      MemorySegment.copy(ss, 0, ys, 4L * u * unit, 4L * k * unit);
    }
    return 0;
  }

  static String fmt(double[] a) {
    StringBuilder b = new StringBuilder();
    for (double v : a) b.append(String.format(Locale.ROOT, v >= 1000 ? " %6.0f" : "%6.1f", v));
    return b.toString();
  }
}
