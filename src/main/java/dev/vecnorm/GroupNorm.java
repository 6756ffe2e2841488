package dev.vecnorm;

import dev.vecnorm.internal.GroupNormSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;

/**
 * Group normalization (Wu and He, 2018) on a {@link GroupShape}: per sample {@code n} and group
 * {@code g} of {@code channels / groups} consecutive channels, over those channels at every spatial
 * position: {@code mean}, biased {@code var}, {@code invStd = 1/sqrt(var + epsilon)},
 * {@code y = (x - mean) * invStd * gamma[c] + beta[c]}, with per-channel {@code gamma}, {@code beta}
 * ({@code float[channels]}; null means Keras {@code scale=False} / {@code center=False}) and
 * per-(sample, group) statistics ({@code float[shape.statistics()]}, index {@code n * groups + g}) for
 * the backward. Training and inference compute the same thing (there are no moving statistics).
 * Tensors are {@code float[]} at an element offset or little-endian float32 {@link MemorySegment}s at a
 * byte offset, channels-last (NHWC) or channels-first (NCHW) as the shape says. Segments backed by a
 * {@code float[]} run on the array; plain native segments ({@code isNative()}, not mapped) are read and
 * written in place by native bodies with the array kernels' bits, except channels-last forwards of groups
 * of two or more whole vectors, and channels-last rows whose super row (the least common multiple of the
 * channels and the vector lanes) exceeds 1024 floats, e.g. 1023 channels; those and other segments are
 * staged through arrays a block of samples at a time.
 *
 * <p>InstanceNorm is {@code groups == channels}: {@link GroupShape#instanceNhwc}, {@link GroupShape#instanceNchw}.
 * PyTorch's {@code F.group_norm(x, G, weight, bias, eps)} on NCHW is
 * {@code forward(GroupShape.nchw(N, C, H*W, G), x, 0, weight, bias, eps, y, 0, null, null)}.
 *
 * <p>Numerics: channels-first groups are contiguous and reduced by cache blocks, each two-pass, merged
 * with Chan's formula; channels-last groups merge per-channel shifted moments in double. Neither uses
 * {@code E[x²] - E[x]²}, so data far from 0 ({@code 1e4 + N(0, 0.01)}) keeps its variance.
 *
 * <p>Same guarantees as {@link BatchNorm} and {@link LayerNorm}: every argument is checked before anything
 * is written ({@link IllegalArgumentException} naming the argument and the expected length, or
 * {@link NullPointerException} for a missing required one); a tensor output may be an input in place
 * ({@code y == x}, {@code dx == dy} or {@code dx == x} at the same offset), any other overlap is
 * rejected, and a per-channel or per-group output may not be the same array as an input or another output.
 */
public final class GroupNorm {

  private GroupNorm() {}

  /**
   * Runs group norm forward and backward on private {@code float[]} tensors of this shape until C2 has compiled them, for
   * at most 3 seconds, as {@link BatchNorm#warmUp(NormShape)} does for batch norm. Without it a program's first calls
   * run in HotSpot's interpreter and C1 code, where vector operations are objects: NHWC 4x50x100 with 10 groups took
   * 12 ms a backward on its first calls, 0.4-0.8 ms until call 200 and reached its steady 30 us after ~800 calls
   * (README, "Warm-up"). Optional; results never depend on it. A tensor over 1 Mi floats is warmed on as many of its
   * samples as fit (the same sample shape, so the same kernel paths).
   *
   * @param s the shape the program will use; not null
   * @return the time spent
   */
  public static java.time.Duration warmUp(GroupShape s) {
    return WarmUp.groups(s, null, java.time.Duration.ofSeconds(3));
  }

  /**
   * {@link #warmUp(GroupShape)} with a time limit, and on native segments too when {@code arena} is not null: pass an arena
   * of the kind the program's tensors come from (see
   * {@link BatchNorm#warmUp(NormShape, java.lang.foreign.Arena, java.time.Duration)}).
   *
   * @param s the shape the program will use; not null
   * @param arena where the native warm-up tensors come from (at most 16 MiB, living as long as it does); null warms the
   *     {@code float[]} kernels only
   * @param budget the most time to spend; positive
   * @return the time spent (at most about {@code budget} plus one call)
   * @throws IllegalArgumentException if the budget is not positive
   */
  public static java.time.Duration warmUp(GroupShape s, java.lang.foreign.Arena arena, java.time.Duration budget) {
    return WarmUp.groups(s, arena, budget);
  }

  /**
   * Forward: writes {@code y} and, when non-null, the per-(sample, group) {@code mean} and {@code invStd}.
   *
   * @param s the shape: batch, channels, spatial size, groups and layout; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor: {@code s.size()} floats from element offset {@code yOffset}; may be {@code x} at the same offset (in place)
   * @param yOffset element offset of {@code y}'s first float in the array, at least 0
   * @param mean output, may be null: per-(sample, group) mean, {@code float[s.statistics()]}, index {@code n * groups + g}
   * @param invStd output, may be null: per-(sample, group) {@code 1 / sqrt(var + epsilon)}, {@code float[s.statistics()]}; not the same array as {@code mean}
   * @throws IllegalArgumentException if a length, offset, epsilon or alias is wrong (names the argument and the
   *     expected shape); nothing is written
   * @throws NullPointerException if a required argument is null
   */
  public static void forward(GroupShape s, float[] x, int xOffset, float[] gamma, float[] beta, float epsilon, float[] y, int yOffset,
                             float[] mean, float[] invStd) {
    forward(VectorizationProvider.groupNorm(), s, x, xOffset, gamma, beta, epsilon, y, yOffset, mean, invStd);
  }

  /**
   * {@link #forward(GroupShape, float[], int, float[], float[], float, float[], int, float[], float[])} on segments; offsets in bytes.
   *
   * @param s the shape: batch, channels, spatial size, groups and layout; not null
   * @param x input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code yOffset}; may be {@code x} at the same offset (in place)
   * @param yOffset byte offset of {@code y}'s first element in the segment, at least 0
   * @param mean output, may be null: per-(sample, group) mean, {@code float[s.statistics()]}, index {@code n * groups + g}
   * @param invStd output, may be null: per-(sample, group) {@code 1 / sqrt(var + epsilon)}, {@code float[s.statistics()]}; not the same array as {@code mean}
   * @throws IllegalArgumentException if a length, offset, epsilon or alias is wrong, a segment is out of bounds, an
   *     output segment is read-only, or a segment's arena is closed or confined to another thread; nothing is written
   * @throws NullPointerException if a required argument is null
   */
  public static void forward(GroupShape s, MemorySegment x, long xOffset, float[] gamma, float[] beta, float epsilon, MemorySegment y,
                             long yOffset, float[] mean, float[] invStd) {
    forward(VectorizationProvider.groupNorm(), s, x, xOffset, gamma, beta, epsilon, y, yOffset, mean, invStd);
  }

  /**
   * Backward given the forward's {@code mean} and {@code invStd}: with {@code xhat = (x - mean) * invStd},
   * {@code g = dy * gamma} and means over each (sample, group),
   * {@code dx = invStd * (g - mean(g) - xhat * mean(g * xhat))};
   * {@code dGamma[c] = Σ dy * xhat}, {@code dBeta[c] = Σ dy} over samples and positions (overwritten; either may be null).
   *
   * @param s the shape used in the forward; not null
   * @param x the forward's input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param dy input: gradient of the loss with respect to {@code y}: {@code s.size()} floats from element offset {@code dyOffset}
   * @param dyOffset element offset of {@code dy}'s first float in the array, at least 0
   * @param gamma per-channel scale used in the forward, {@code float[channels]}; null means gamma = 1
   * @param mean the forward's per-(sample, group) mean, {@code float[s.statistics()]}; not null
   * @param invStd the forward's per-(sample, group) {@code 1 / sqrt(var + epsilon)}, {@code float[s.statistics()]}; not null
   * @param dx output: gradient with respect to {@code x}: {@code s.size()} floats from element offset {@code dxOffset}; may be {@code dy} or {@code x} at the same offset (in place)
   * @param dxOffset element offset of {@code dx}'s first float in the array, at least 0
   * @param dGamma output, may be null: per-channel {@code Σ dy * xhat}, {@code float[channels]}, overwritten
   * @param dBeta output, may be null: per-channel {@code Σ dy}, {@code float[channels]}, overwritten
   * @throws IllegalArgumentException if a length, offset or alias is wrong (names the argument and the
   *     expected shape); nothing is written
   * @throws NullPointerException if a required argument is null
   */
  public static void backward(GroupShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma, float[] mean,
                              float[] invStd, float[] dx, int dxOffset, float[] dGamma, float[] dBeta) {
    backward(VectorizationProvider.groupNorm(), s, x, xOffset, dy, dyOffset, gamma, mean, invStd, dx, dxOffset, dGamma, dBeta);
  }

  /**
   * {@link #backward(GroupShape, float[], int, float[], int, float[], float[], float[], float[], int, float[], float[])} on segments; offsets in bytes.
   *
   * @param s the shape used in the forward; not null
   * @param x the forward's input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param dy input: gradient of the loss with respect to {@code y}: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code dyOffset}
   * @param dyOffset byte offset of {@code dy}'s first element in the segment, at least 0
   * @param gamma per-channel scale used in the forward, {@code float[channels]}; null means gamma = 1
   * @param mean the forward's per-(sample, group) mean, {@code float[s.statistics()]}; not null
   * @param invStd the forward's per-(sample, group) {@code 1 / sqrt(var + epsilon)}, {@code float[s.statistics()]}; not null
   * @param dx output: gradient with respect to {@code x}: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code dxOffset}; may be {@code dy} or {@code x} at the same offset (in place)
   * @param dxOffset byte offset of {@code dx}'s first element in the segment, at least 0
   * @param dGamma output, may be null: per-channel {@code Σ dy * xhat}, {@code float[channels]}, overwritten
   * @param dBeta output, may be null: per-channel {@code Σ dy}, {@code float[channels]}, overwritten
   * @throws IllegalArgumentException if a length, offset or alias is wrong, a segment is out of bounds, an
   *     output segment is read-only, or a segment's arena is closed or confined to another thread; nothing is written
   * @throws NullPointerException if a required argument is null
   */
  public static void backward(GroupShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] gamma, float[] mean,
                              float[] invStd, MemorySegment dx, long dxOffset, float[] dGamma, float[] dBeta) {
    backward(VectorizationProvider.groupNorm(), s, x, xOffset, dy, dyOffset, gamma, mean, invStd, dx, dxOffset, dGamma, dBeta);
  }

  // ---------------------------------------------------------------- per implementation (tests run both)

  static void forward(GroupNormSupport impl, GroupShape s, float[] x, int xOffset, float[] gamma, float[] beta, float epsilon,
                      float[] y, int yOffset, float[] mean, float[] invStd) {
    NormShape t = tensorShape(s);
    LayerNorm.checkArrays(t, "x", x, xOffset, "y", y, yOffset);
    checkForward(s, gamma, beta, epsilon, mean, invStd);
    checkNotTensor(mean, "mean", invStd, "invStd", x, "x", y, "y");
    impl.forward(x, xOffset, y, yOffset, s.batch(), s.channels(), s.spatial(), s.groups(), s.channelsLast(), gamma, beta, epsilon,
        mean, invStd, 0);
  }

  static void forward(GroupNormSupport impl, GroupShape s, MemorySegment x, long xOffset, float[] gamma, float[] beta, float epsilon,
                      MemorySegment y, long yOffset, float[] mean, float[] invStd) {
    NormShape t = tensorShape(s);
    LayerNorm.checkSegments(t, "x", x, xOffset, "y", y, yOffset);
    checkForward(s, gamma, beta, epsilon, mean, invStd);
    float[] xa = Staging.backingArray(x, xOffset), ya = Staging.backingArray(y, yOffset);
    if (xa != null && ya != null) {
      checkNotTensor(mean, "mean", invStd, "invStd", xa, "x", ya, "y");
      impl.forward(xa, Staging.elementOffset(x, xOffset), ya, Staging.elementOffset(y, yOffset), s.batch(), s.channels(), s.spatial(),
          s.groups(), s.channelsLast(), gamma, beta, epsilon, mean, invStd, 0);
      return;
    }
    if (Staging.plainNative(x) && Staging.plainNative(y) && impl.forwardNative(x, xOffset, y, yOffset, s.batch(), s.channels(),
        s.spatial(), s.groups(), s.channelsLast(), gamma, beta, epsilon, mean, invStd, 0)) {
      return; // read and written in place, no staging
    }
    int groups = s.groups();
    LayerNorm.staged(s.batch(), sampleFloats(s), x, xOffset, null, 0, y, yOffset,
        (xs, gs, n, first) -> impl.forward(xs, 0, xs, 0, n, s.channels(), s.spatial(), groups, s.channelsLast(), gamma, beta, epsilon,
            mean, invStd, first * groups));
  }

  static void backward(GroupNormSupport impl, GroupShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma,
                       float[] mean, float[] invStd, float[] dx, int dxOffset, float[] dGamma, float[] dBeta) {
    NormShape t = tensorShape(s);
    LayerNorm.checkBackwardArrays(t, x, xOffset, dy, dyOffset, dx, dxOffset);
    checkBackward(s, gamma, mean, invStd, dGamma, dBeta);
    checkNotTensor(dGamma, "dGamma", dBeta, "dBeta", x, "x", dy, "dy");
    checkNotTensor(dGamma, "dGamma", dBeta, "dBeta", dx, "dx", null, null);
    LayerNorm.zero(dGamma);
    LayerNorm.zero(dBeta);
    impl.backward(x, xOffset, dy, dyOffset, dx, dxOffset, s.batch(), s.channels(), s.spatial(), s.groups(), s.channelsLast(), gamma,
        mean, invStd, 0, dGamma, dBeta);
  }

  static void backward(GroupNormSupport impl, GroupShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset,
                       float[] gamma, float[] mean, float[] invStd, MemorySegment dx, long dxOffset, float[] dGamma, float[] dBeta) {
    NormShape t = tensorShape(s);
    LayerNorm.checkBackwardSegments(t, x, xOffset, dy, dyOffset, dx, dxOffset);
    checkBackward(s, gamma, mean, invStd, dGamma, dBeta);
    float[] xa = Staging.backingArray(x, xOffset), ga = Staging.backingArray(dy, dyOffset), da = Staging.backingArray(dx, dxOffset);
    if (xa != null && ga != null && da != null) {
      checkNotTensor(dGamma, "dGamma", dBeta, "dBeta", xa, "x", ga, "dy");
      checkNotTensor(dGamma, "dGamma", dBeta, "dBeta", da, "dx", null, null);
      LayerNorm.zero(dGamma);
      LayerNorm.zero(dBeta);
      impl.backward(xa, Staging.elementOffset(x, xOffset), ga, Staging.elementOffset(dy, dyOffset), da, Staging.elementOffset(dx, dxOffset),
          s.batch(), s.channels(), s.spatial(), s.groups(), s.channelsLast(), gamma, mean, invStd, 0, dGamma, dBeta);
      return;
    }
    LayerNorm.zero(dGamma);
    LayerNorm.zero(dBeta);
    if (Staging.plainNative(x) && Staging.plainNative(dy) && Staging.plainNative(dx) && impl.backwardNative(x, xOffset, dy, dyOffset, dx,
        dxOffset, s.batch(), s.channels(), s.spatial(), s.groups(), s.channelsLast(), gamma, mean, invStd, 0, dGamma, dBeta)) {
      return; // read and written in place, no staging
    }
    int groups = s.groups();
    LayerNorm.staged(s.batch(), sampleFloats(s), x, xOffset, dy, dyOffset, dx, dxOffset,
        (xs, gs, n, first) -> impl.backward(xs, 0, gs, 0, gs, 0, n, s.channels(), s.spatial(), groups, s.channelsLast(), gamma, mean,
            invStd, first * groups, dGamma, dBeta));
  }

  // ---------------------------------------------------------------- checks

  /**
   * The tensor's extent for the shared tensor and overlap checks (its size does not depend on the layout). The last one
   * is kept, as {@link LayerNorm#shape} keeps its: a new NormShape a call was 24 B a call of garbage in every steady
   * training loop (escape analysis did not remove it; twenty-fourth session, {@code LayerNormAllocationTest}). A racy
   * read is safe: a record's fields are final, so another thread sees it whole or sees the older one.
   */
  static NormShape tensorShape(GroupShape s) {
    java.util.Objects.requireNonNull(s, "shape");
    NormShape last = lastTensor;
    if (last.outer() == s.batch() && last.channels() == s.channels() && last.inner() == s.spatial()) return last;
    return lastTensor = new NormShape(s.batch(), s.channels(), s.spatial());
  }

  private static NormShape lastTensor = new NormShape(1, 1, 1);

  /** Staging copies whole samples into a float[]: one sample must fit one. */
  static int sampleFloats(GroupShape s) {
    long f = (long) s.channels() * s.spatial();
    if (f > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("channels*spatial = " + f + " floats per sample exceed a float[]; segments not backed by a "
          + "float[] are staged a sample at a time");
    }
    return (int) f;
  }

  static void checkForward(GroupShape s, float[] gamma, float[] beta, float epsilon, float[] mean, float[] invStd) {
    Checks.perChannel("gamma", gamma, s.channels(), true);
    Checks.perChannel("beta", beta, s.channels(), true);
    Checks.epsilon(epsilon);
    perGroup("mean", mean, s, true);
    perGroup("invStd", invStd, s, true);
    Checks.distinct("mean", mean, "invStd", invStd);
    // Statistics are written sample by sample while gamma and beta are still read.
    Checks.notAnInput("mean", mean, "gamma", gamma, "beta", beta, null, null);
    Checks.notAnInput("invStd", invStd, "gamma", gamma, "beta", beta, null, null);
  }

  static void checkBackward(GroupShape s, float[] gamma, float[] mean, float[] invStd, float[] dGamma, float[] dBeta) {
    Checks.perChannel("gamma", gamma, s.channels(), true);
    perGroup("mean", mean, s, false);
    perGroup("invStd", invStd, s, false);
    Checks.perChannel("dGamma", dGamma, s.channels(), true);
    Checks.perChannel("dBeta", dBeta, s.channels(), true);
    Checks.distinct("dGamma", dGamma, "dBeta", dBeta);
    // The gradients are zeroed first, so they must not be any array still read.
    Checks.notAnInput("dGamma", dGamma, "gamma", gamma, "mean", mean, "invStd", invStd);
    Checks.notAnInput("dBeta", dBeta, "gamma", gamma, "mean", mean, "invStd", invStd);
  }

  /** Small outputs written while the tensors are read must not be a tensor's array (null: absent). */
  static void checkNotTensor(float[] a, String aName, float[] b, String bName, float[] t, String tName, float[] u, String uName) {
    Checks.notAnInput(aName, a, tName, t, uName, u, null, null);
    Checks.notAnInput(bName, b, tName, t, uName, u, null, null);
  }

  /** A per-(sample, group) array: exactly {@code batch * groups} floats. */
  private static void perGroup(String name, float[] a, GroupShape s, boolean optional) {
    if (a == null) {
      if (optional) return;
      throw new NullPointerException(name);
    }
    int n = s.statistics();
    if (a.length != n) {
      throw new IllegalArgumentException(name + " must have length batch*groups = " + s.batch() + "*" + s.groups() + " = " + n
          + ", got " + a.length);
    }
  }
}
