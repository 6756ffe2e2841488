package dev.vecnorm;

import dev.vecnorm.internal.Scratch;
import java.util.Objects;

/**
 * Conversions between NCHW / NHWC and the blocked layout, and batch norm on blocked tensors.
 *
 * <p>Each {@code (n, cb)} slab of a blocked tensor is a contiguous {@code [spatial, block]}
 * channels-last matrix, so the kernels run per slab with the vector width spanning the block: channel
 * statistics of the slabs merge with Chan's formula in batch order, and normalization and the backward
 * apply run slab by slab on per-block coefficient slices. Per call this allocates a few
 * {@code block}- and {@code channels}-sized arrays.
 *
 * <p>Aliasing as {@link BatchNorm}: {@code y} may be {@code x} and {@code dx} may be {@code dy} or
 * {@code x} at the same offset, per-channel outputs must be arrays of their own. The conversions move
 * every element, so their source and destination must not overlap at all.
 */
public final class BlockedLayout {
  private BlockedLayout() {}

  static int preferredBlock() {
    return LanesHolder.LANES;
  }

  /** Lane count, read once; 8 (AVX2's floats) when the vector module is absent. */
  private static final class LanesHolder {
    static final int LANES = lanes();

    private static int lanes() {
      try {
        Class<?> c = Class.forName("jdk.incubator.vector.FloatVector");
        Object species = c.getField("SPECIES_PREFERRED").get(null);
        return (int) Class.forName("jdk.incubator.vector.VectorSpecies").getMethod("length").invoke(species);
      } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
        return 8;
      }
    }
  }

  private static void check(BlockedShape s, String name, float[] a, int offset, int size) {
    Objects.requireNonNull(s, "shape");
    Objects.requireNonNull(a, name);
    if (offset < 0 || (long) offset + size > a.length) {
      throw new IllegalArgumentException(name + " must hold " + name + "Offset + " + size + " floats for " + s + ", has " + a.length
          + " from offset " + offset);
    }
  }

  private static int plain(BlockedShape s) {
    return s.batch() * s.channels() * s.spatial();
  }

  /**
   * Checks a conversion's source and destination. Conversions move every element to another index, so
   * they cannot run in place: any overlap of the two ranges is rejected.
   */
  private static void checkConversion(BlockedShape s, String srcName, float[] src, int srcOffset, int srcSize,
                                      String dstName, float[] dst, int dstOffset, int dstSize) {
    check(s, srcName, src, srcOffset, srcSize);
    check(s, dstName, dst, dstOffset, dstSize);
    Checks.disjoint(dstName, dst, dstOffset, dstSize, srcName, src, srcOffset, srcSize);
  }

  /**
   * NCHW ({@code [N, C, S]}) to blocked; padding channels become 0.
   *
   * @param s the blocked tensor's shape and block size; not null
   * @param nchw the plain NCHW tensor: {@code batch * channels * spatial} floats from element offset {@code offset}; must not overlap {@code blocked}
   * @param offset element offset of the plain tensor's first float, at least 0
   * @param blocked output: the blocked tensor: {@code s.size()} floats (padding included) from element offset {@code blockedOffset}
   * @param blockedOffset element offset of the blocked tensor's first float, at least 0
   */
  public static void fromNchw(BlockedShape s, float[] nchw, int offset, float[] blocked, int blockedOffset) {
    checkConversion(s, "nchw", nchw, offset, plain(s), "blocked", blocked, blockedOffset, s.size());
    int L = s.block(), S = s.spatial(), CB = s.channelBlocks(), C = s.channels();
    for (int n = 0; n < s.batch(); n++) {
      for (int cb = 0; cb < CB; cb++) {
        int slab = blockedOffset + (n * CB + cb) * S * L;
        for (int l = 0; l < L; l++) {
          int c = cb * L + l;
          if (c >= C) {
            for (int sp = 0; sp < S; sp++) blocked[slab + sp * L + l] = 0f;
            continue;
          }
          int src = offset + (n * C + c) * S;
          for (int sp = 0; sp < S; sp++) blocked[slab + sp * L + l] = nchw[src + sp];
        }
      }
    }
  }

  /**
   * Blocked to NCHW; padding is dropped.
   *
   * @param s the blocked tensor's shape and block size; not null
   * @param blocked the blocked tensor: {@code s.size()} floats (padding included) from element offset {@code blockedOffset}
   * @param blockedOffset element offset of the blocked tensor's first float, at least 0
   * @param nchw output: the plain NCHW tensor: {@code batch * channels * spatial} floats from element offset {@code offset}; must not overlap {@code blocked}
   * @param offset element offset of the plain tensor's first float, at least 0
   */
  public static void toNchw(BlockedShape s, float[] blocked, int blockedOffset, float[] nchw, int offset) {
    checkConversion(s, "blocked", blocked, blockedOffset, s.size(), "nchw", nchw, offset, plain(s));
    int L = s.block(), S = s.spatial(), CB = s.channelBlocks(), C = s.channels();
    for (int n = 0; n < s.batch(); n++) {
      for (int c = 0; c < C; c++) {
        int slab = blockedOffset + (n * CB + c / L) * S * L + c % L, dst = offset + (n * C + c) * S;
        for (int sp = 0; sp < S; sp++) nchw[dst + sp] = blocked[slab + sp * L];
      }
    }
  }

  /**
   * NHWC ({@code [N, S, C]}) to blocked; padding channels become 0.
   *
   * @param s the blocked tensor's shape and block size; not null
   * @param nhwc the plain NHWC tensor: {@code batch * spatial * channels} floats from element offset {@code offset}; must not overlap {@code blocked}
   * @param offset element offset of the plain tensor's first float, at least 0
   * @param blocked output: the blocked tensor: {@code s.size()} floats (padding included) from element offset {@code blockedOffset}
   * @param blockedOffset element offset of the blocked tensor's first float, at least 0
   */
  public static void fromNhwc(BlockedShape s, float[] nhwc, int offset, float[] blocked, int blockedOffset) {
    checkConversion(s, "nhwc", nhwc, offset, plain(s), "blocked", blocked, blockedOffset, s.size());
    int L = s.block(), S = s.spatial(), CB = s.channelBlocks(), C = s.channels();
    for (int n = 0; n < s.batch(); n++) {
      for (int cb = 0; cb < CB; cb++) {
        int width = Math.min(L, C - cb * L), slab = blockedOffset + (n * CB + cb) * S * L;
        for (int sp = 0; sp < S; sp++) {
          System.arraycopy(nhwc, offset + (n * S + sp) * C + cb * L, blocked, slab + sp * L, width);
          for (int l = width; l < L; l++) blocked[slab + sp * L + l] = 0f;
        }
      }
    }
  }

  /**
   * Blocked to NHWC; padding is dropped.
   *
   * @param s the blocked tensor's shape and block size; not null
   * @param blocked the blocked tensor: {@code s.size()} floats (padding included) from element offset {@code blockedOffset}
   * @param blockedOffset element offset of the blocked tensor's first float, at least 0
   * @param nhwc output: the plain NHWC tensor: {@code batch * spatial * channels} floats from element offset {@code offset}; must not overlap {@code blocked}
   * @param offset element offset of the plain tensor's first float, at least 0
   */
  public static void toNhwc(BlockedShape s, float[] blocked, int blockedOffset, float[] nhwc, int offset) {
    checkConversion(s, "blocked", blocked, blockedOffset, s.size(), "nhwc", nhwc, offset, plain(s));
    int L = s.block(), S = s.spatial(), CB = s.channelBlocks(), C = s.channels();
    for (int n = 0; n < s.batch(); n++) {
      for (int cb = 0; cb < CB; cb++) {
        int width = Math.min(L, C - cb * L), slab = blockedOffset + (n * CB + cb) * S * L;
        for (int sp = 0; sp < S; sp++) System.arraycopy(blocked, slab + sp * L, nhwc, offset + (n * S + sp) * C + cb * L, width);
      }
    }
  }

  /**
   * Training forward on a blocked tensor; statistics as {@link BatchNorm#forwardTraining}. Padding of y is 0.
   *
   * @param s the blocked tensor's shape and block size; not null
   * @param x input blocked tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output blocked tensor, same layout as {@code x}; may be {@code x} at the same offset (in place)
   * @param yOffset element offset of {@code y}'s first float in the array, at least 0
   * @param batchMean output: per-channel batch mean, {@code float[channels]}
   * @param batchVariance output: per-channel biased batch variance, {@code float[channels]}
   * @param invStd output: per-channel {@code 1 / sqrt(batchVariance + epsilon)}, {@code float[channels]}
   */
  public static void forwardTraining(BlockedShape s, float[] x, int xOffset, float[] gamma, float[] beta, float epsilon,
                                     float[] y, int yOffset, float[] batchMean, float[] batchVariance, float[] invStd) {
    forwardTraining(Kernels.DEFAULT, s, x, xOffset, gamma, beta, epsilon, y, yOffset, batchMean, batchVariance, invStd);
  }

  static void forwardTraining(Kernels k, BlockedShape s, float[] x, int xOffset, float[] gamma, float[] beta, float epsilon,
                              float[] y, int yOffset, float[] batchMean, float[] batchVariance, float[] invStd) {
    checkTensors(s, x, xOffset, "y", y, yOffset);
    NormShape perChannel = NormShape.channelsLast(1, s.channels()); // for the per-channel checks only
    Kernels.checkTraining(perChannel, gamma, beta, epsilon, batchMean, batchVariance, invStd);
    int L = s.block(), S = s.spatial(), CB = s.channelBlocks(), C = s.channels();
    // Pooled scratch (KernelMixAllocationTest: new arrays here were 1 KB a call). Every lane of a block has
    // merged the same count, so the merge with one count for the block: the same expressions, the same bits.
    float[] slabMean = Scratch.borrow(L), slabResidual = Scratch.borrow(L), slabM2 = Scratch.borrow(L);
    double[] runMean = Scratch.borrowDoubles(L), runM2 = Scratch.borrowDoubles(L);
    try {
      for (int cb = 0; cb < CB; cb++) {
        java.util.Arrays.fill(runMean, 0, L, 0);
        java.util.Arrays.fill(runM2, 0, L, 0);
        double done = 0;
        for (int n = 0; n < s.batch(); n++) {
          k.impl().moments(x, xOffset + (n * CB + cb) * S * L, S, L, 1, slabMean, slabResidual, slabM2);
          Staging.mergeChunk(done, runMean, runM2, 0, L, 0, slabMean, slabResidual, slabM2, S);
          done += S;
        }
        for (int l = 0; l < L && cb * L + l < C; l++) {
          batchMean[cb * L + l] = (float) runMean[l];
          batchVariance[cb * L + l] = (float) (runM2[l] / done);
        }
      }
    } finally {
      Scratch.releaseDoubles(runM2);
      Scratch.releaseDoubles(runMean);
      Scratch.release(slabM2);
      Scratch.release(slabResidual);
      Scratch.release(slabMean);
    }
    Kernels.finishStatistics(NormShape.channelsFirst(s.batch(), C, S), epsilon, batchVariance, invStd);
    normalizeSlabs(k, s, x, xOffset, y, yOffset, batchMean, invStd, false, epsilon, gamma, beta);
  }

  /**
   * Inference forward on a blocked tensor.
   *
   * @param s the blocked tensor's shape and block size; not null
   * @param x input blocked tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param movingMean per-channel moving mean, {@code float[channels]}
   * @param movingVariance per-channel moving variance, {@code float[channels]}
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output blocked tensor, same layout as {@code x}; may be {@code x} at the same offset (in place)
   * @param yOffset element offset of {@code y}'s first float in the array, at least 0
   */
  public static void forwardInference(BlockedShape s, float[] x, int xOffset, float[] gamma, float[] beta, float[] movingMean,
                                      float[] movingVariance, float epsilon, float[] y, int yOffset) {
    checkTensors(s, x, xOffset, "y", y, yOffset);
    Kernels.checkInference(NormShape.channelsLast(1, s.channels()), gamma, beta, movingMean, movingVariance, epsilon);
    normalizeSlabs(Kernels.DEFAULT, s, x, xOffset, y, yOffset, movingMean, movingVariance, true, epsilon, gamma, beta);
  }

  /** Per-block slice of a per-channel array, padded with {@code pad}; null stays null. */
  private static float[] slice(float[] a, int from, int block, float pad, float[] into) {
    if (a == null) return null;
    for (int l = 0; l < block; l++) into[l] = from + l < a.length ? a[from + l] : pad;
    return into;
  }

  private static void normalizeSlabs(Kernels k, BlockedShape s, float[] x, int xOffset, float[] y, int yOffset, float[] mean,
                                     float[] scale, boolean fromVariance, float epsilon, float[] gamma, float[] beta) {
    int L = s.block(), S = s.spatial(), CB = s.channelBlocks();
    float[] m = Scratch.borrow(L), sc = Scratch.borrow(L), g = Scratch.borrow(L), b = Scratch.borrow(L);
    try {
      for (int cb = 0; cb < CB; cb++) {
        slice(mean, cb * L, L, 0f, m);
        slice(scale, cb * L, L, 1f, sc);
        // Padding lanes get gamma 0 (and beta 0), so padded outputs are exactly 0.
        float[] gs = gamma == null ? fill(g, cb * L, s.channels(), L) : slice(gamma, cb * L, L, 0f, g);
        float[] bs = slice(beta, cb * L, L, 0f, b);
        for (int n = 0; n < s.batch(); n++) {
          int at = (n * CB + cb) * S * L;
          k.impl().normalize(x, xOffset + at, y, yOffset + at, S, L, 1, m, sc, fromVariance, epsilon, gs, bs);
        }
      }
    } finally {
      Scratch.release(b);
      Scratch.release(g);
      Scratch.release(sc);
      Scratch.release(m);
    }
  }

  private static float[] fill(float[] g, int from, int channels, int block) {
    for (int l = 0; l < block; l++) g[l] = from + l < channels ? 1f : 0f;
    return g;
  }

  /**
   * Backward on blocked tensors, as {@link BatchNorm#backward}; padding of dx is 0.
   *
   * @param s the blocked tensor's shape and block size; not null
   * @param x input blocked tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param dy gradient of the loss with respect to {@code y}, blocked as {@code x}: {@code s.size()} floats from element offset {@code dyOffset}
   * @param dyOffset element offset of {@code dy}'s first float in the array, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param batchMean per-channel batch mean the forward wrote, {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param dx output: gradient of the loss with respect to {@code x}, blocked as {@code x}; may be {@code dy} or {@code x} at the same offset
   * @param dxOffset element offset of {@code dx}'s first float in the array, at least 0
   * @param dGamma output: per-channel gradient with respect to {@code gamma}, {@code float[channels]}, or null when not wanted
   * @param dBeta output: per-channel gradient with respect to {@code beta}, {@code float[channels]}, or null when not wanted
   */
  public static void backward(BlockedShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma, float[] batchMean,
                              float[] invStd, float[] dx, int dxOffset, float[] dGamma, float[] dBeta) {
    checkTensors(s, x, xOffset, "dx", dx, dxOffset);
    check(s, "dy", dy, dyOffset, s.size());
    Checks.noPartialOverlap("dx", dx, dxOffset, "dy", dy, dyOffset, perElement(s));
    Kernels.checkBackward(NormShape.channelsLast(1, s.channels()), gamma, batchMean, invStd, dGamma, dBeta);
    Kernels k = Kernels.DEFAULT;
    int L = s.block(), S = s.spatial(), CB = s.channelBlocks(), C = s.channels();
    float[] m = Scratch.borrow(L), inv = Scratch.borrow(L), g = Scratch.borrow(L), slabDy = Scratch.borrow(L);
    float[] slabDyXhat = Scratch.borrow(L), sumDy = Scratch.borrow(L), sumDyXhat = Scratch.borrow(L);
    double[] accDy = Scratch.borrowDoubles(L), accDyXhat = Scratch.borrowDoubles(L);
    double count = s.countPerChannel();
    try {
      for (int cb = 0; cb < CB; cb++) {
        slice(batchMean, cb * L, L, 0f, m);
        slice(invStd, cb * L, L, 1f, inv);
        float[] gs = gamma == null ? fill(g, cb * L, C, L) : slice(gamma, cb * L, L, 0f, g);
        java.util.Arrays.fill(accDy, 0, L, 0);
        java.util.Arrays.fill(accDyXhat, 0, L, 0);
        for (int n = 0; n < s.batch(); n++) {
          int at = (n * CB + cb) * S * L;
          k.impl().backwardReduce(x, xOffset + at, dy, dyOffset + at, S, L, 1, m, inv, slabDy, slabDyXhat);
          for (int l = 0; l < L; l++) {
            accDy[l] += slabDy[l];
            accDyXhat[l] += slabDyXhat[l];
          }
        }
        for (int l = 0; l < L; l++) {
          sumDy[l] = (float) accDy[l];
          sumDyXhat[l] = (float) accDyXhat[l];
          if (cb * L + l < C) {
            if (dBeta != null) dBeta[cb * L + l] = sumDy[l];
            if (dGamma != null) dGamma[cb * L + l] = sumDyXhat[l];
          }
        }
        for (int n = 0; n < s.batch(); n++) {
          int at = (n * CB + cb) * S * L;
          k.impl().backwardApply(x, xOffset + at, dy, dyOffset + at, dx, dxOffset + at, S, L, 1, m, inv, gs, sumDy, sumDyXhat, count);
        }
      }
    } finally {
      Scratch.releaseDoubles(accDyXhat);
      Scratch.releaseDoubles(accDy);
      Scratch.release(sumDyXhat);
      Scratch.release(sumDy);
      Scratch.release(slabDyXhat);
      Scratch.release(slabDy);
      Scratch.release(g);
      Scratch.release(inv);
      Scratch.release(m);
    }
  }

  /** x and an output of the same blocked size: the output may be x in place, not shifted against it. */
  private static void checkTensors(BlockedShape s, float[] x, int xOffset, String outName, float[] out, int outOffset) {
    check(s, "x", x, xOffset, s.size());
    check(s, outName, out, outOffset, s.size());
    Checks.noPartialOverlap(outName, out, outOffset, "x", x, xOffset, perElement(s));
  }

  /** The blocked tensor as a flat {@code [1, size, 1]} shape, for the element-range checks. */
  private static NormShape perElement(BlockedShape s) {
    return NormShape.channelsLast(1, s.size());
  }
}
