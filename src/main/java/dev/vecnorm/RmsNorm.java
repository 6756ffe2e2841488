package dev.vecnorm;

import dev.vecnorm.internal.LayerNormSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;

/**
 * RMS normalization over rows, as {@code torch.nn.RMSNorm}: {@code invRms = 1/sqrt(mean(x^2) + epsilon)}
 * per row of {@code features} floats, {@code y = x * invRms * gamma} (per-feature {@code gamma}, null for
 * none). Layout, in-place rules and argument checks are those of {@link LayerNorm}.
 */
public final class RmsNorm {

  private RmsNorm() {}

  /**
   * Runs RMS norm forward and backward on private {@code float[]} tensors of this size until C2 has compiled them, for at
   * most 3 seconds, as {@link BatchNorm#warmUp(NormShape)} does for batch norm: without it a program's first calls run
   * in HotSpot's interpreter and C1 code, where vector operations are objects (the first calls of an in-cache size
   * take 10-1000x the steady state; README, "Warm-up"). Optional; results never depend on it. A size over 1 Mi floats
   * is warmed on as many of its rows as fit (the same row length, so the same kernel paths).
   *
   * @param rows number of rows the program will pass, at least 1
   * @param features floats per row, at least 1
   * @return the time spent
   * @throws IllegalArgumentException if rows or features is below 1
   */
  public static java.time.Duration warmUp(int rows, int features) {
    return WarmUp.rows(rows, features, true, null, java.time.Duration.ofSeconds(3));
  }

  /**
   * {@link #warmUp(int, int)} with a time limit, and on native segments too when {@code arena} is not null: pass an arena
   * of the kind the program's tensors come from (the segment kernels are compiled for its session class, as
   * {@link BatchNorm#warmUp(NormShape, java.lang.foreign.Arena, java.time.Duration)} explains).
   *
   * @param rows number of rows the program will pass, at least 1
   * @param features floats per row, at least 1
   * @param arena where the native warm-up tensors come from (at most 16 MiB, living as long as it does); null warms the
   *     {@code float[]} kernels only
   * @param budget the most time to spend; positive
   * @return the time spent (at most about {@code budget} plus one call)
   * @throws IllegalArgumentException if rows or features is below 1, or the budget is not positive
   */
  public static java.time.Duration warmUp(int rows, int features, java.lang.foreign.Arena arena, java.time.Duration budget) {
    return WarmUp.rows(rows, features, true, arena, budget);
  }

  /**
   * Forward: writes {@code y} and, when non-null, the per-row {@code invRms} ({@code float[rows]}).
   *
   * @param rows number of rows (samples) normalized independently, at least 1
   * @param features floats per row, normalized together, at least 1
   * @param x input tensor: {@code rows * features} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param gamma per-feature scale, {@code float[features]}; null means gamma = 1
   * @param epsilon added to {@code mean(x^2)} before the square root; finite and greater than 0
   * @param y output tensor: {@code rows * features} floats from element offset {@code yOffset}; may be {@code x} at the same offset (in place)
   * @param yOffset element offset of {@code y}'s first float in the array, at least 0
   * @param invRms output, may be null: per-row {@code 1 / sqrt(mean(x^2) + epsilon)}, {@code float[rows]}
   * @throws IllegalArgumentException if a length, offset, epsilon or alias is wrong (names the argument and the
   *     expected shape); nothing is written
   * @throws NullPointerException if a required argument is null
   */
  public static void forward(int rows, int features, float[] x, int xOffset, float[] gamma, float epsilon, float[] y, int yOffset,
                             float[] invRms) {
    forward(VectorizationProvider.layerNorm(), rows, features, x, xOffset, gamma, epsilon, y, yOffset, invRms);
  }

  /**
   * {@link #forward(int, int, float[], int, float[], float, float[], int, float[])} on segments; offsets in bytes.
   *
   * @param rows number of rows (samples) normalized independently, at least 1
   * @param features floats per row, normalized together, at least 1
   * @param x input tensor: little-endian float32 segment holding {@code rows * features} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param gamma per-feature scale, {@code float[features]}; null means gamma = 1
   * @param epsilon added to {@code mean(x^2)} before the square root; finite and greater than 0
   * @param y output tensor: little-endian float32 segment holding {@code rows * features} floats from byte offset {@code yOffset}; may be {@code x} at the same offset (in place)
   * @param yOffset byte offset of {@code y}'s first element in the segment, at least 0
   * @param invRms output, may be null: per-row {@code 1 / sqrt(mean(x^2) + epsilon)}, {@code float[rows]}
   * @throws IllegalArgumentException if a length, offset, epsilon or alias is wrong, a segment is out of bounds, an
   *     output segment is read-only, or a segment's arena is closed or confined to another thread; nothing is written
   * @throws NullPointerException if a required argument is null
   */
  public static void forward(int rows, int features, MemorySegment x, long xOffset, float[] gamma, float epsilon, MemorySegment y,
                             long yOffset, float[] invRms) {
    forward(VectorizationProvider.layerNorm(), rows, features, x, xOffset, gamma, epsilon, y, yOffset, invRms);
  }

  /**
   * Backward given the forward's {@code invRms} ({@code r}): with {@code g = dy * gamma},
   * {@code dx = r * g - x * r^3 * mean(g * x)} per row; {@code dGamma = Σ_rows dy * x * r} (overwritten; may be null).
   *
   * @param rows number of rows (samples) normalized independently, at least 1
   * @param features floats per row, normalized together, at least 1
   * @param x the forward's input tensor: {@code rows * features} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param dy input: gradient of the loss with respect to {@code y}: {@code rows * features} floats from element offset {@code dyOffset}
   * @param dyOffset element offset of {@code dy}'s first float in the array, at least 0
   * @param gamma per-feature scale used in the forward, {@code float[features]}; null means gamma = 1
   * @param invRms the forward's per-row {@code 1 / sqrt(mean(x^2) + epsilon)}, {@code float[rows]}; not null
   * @param dx output: gradient with respect to {@code x}: {@code rows * features} floats from element offset {@code dxOffset}; may be {@code dy} or {@code x} at the same offset (in place)
   * @param dxOffset element offset of {@code dx}'s first float in the array, at least 0
   * @param dGamma output, may be null: per-feature {@code Σ_rows dy * x * invRms}, {@code float[features]}, overwritten
   * @throws IllegalArgumentException if a length, offset or alias is wrong (names the argument and the
   *     expected shape); nothing is written
   * @throws NullPointerException if a required argument is null
   */
  public static void backward(int rows, int features, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma, float[] invRms,
                              float[] dx, int dxOffset, float[] dGamma) {
    backward(VectorizationProvider.layerNorm(), rows, features, x, xOffset, dy, dyOffset, gamma, invRms, dx, dxOffset, dGamma);
  }

  /**
   * {@link #backward(int, int, float[], int, float[], int, float[], float[], float[], int, float[])} on segments; offsets in bytes.
   *
   * @param rows number of rows (samples) normalized independently, at least 1
   * @param features floats per row, normalized together, at least 1
   * @param x the forward's input tensor: little-endian float32 segment holding {@code rows * features} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param dy input: gradient of the loss with respect to {@code y}: little-endian float32 segment holding {@code rows * features} floats from byte offset {@code dyOffset}
   * @param dyOffset byte offset of {@code dy}'s first element in the segment, at least 0
   * @param gamma per-feature scale used in the forward, {@code float[features]}; null means gamma = 1
   * @param invRms the forward's per-row {@code 1 / sqrt(mean(x^2) + epsilon)}, {@code float[rows]}; not null
   * @param dx output: gradient with respect to {@code x}: little-endian float32 segment holding {@code rows * features} floats from byte offset {@code dxOffset}; may be {@code dy} or {@code x} at the same offset (in place)
   * @param dxOffset byte offset of {@code dx}'s first element in the segment, at least 0
   * @param dGamma output, may be null: per-feature {@code Σ_rows dy * x * invRms}, {@code float[features]}, overwritten
   * @throws IllegalArgumentException if a length, offset or alias is wrong, a segment is out of bounds, an
   *     output segment is read-only, or a segment's arena is closed or confined to another thread; nothing is written
   * @throws NullPointerException if a required argument is null
   */
  public static void backward(int rows, int features, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] gamma,
                              float[] invRms, MemorySegment dx, long dxOffset, float[] dGamma) {
    backward(VectorizationProvider.layerNorm(), rows, features, x, xOffset, dy, dyOffset, gamma, invRms, dx, dxOffset, dGamma);
  }

  // ---------------------------------------------------------------- per implementation (tests run both)

  static void forward(LayerNormSupport impl, int rows, int features, float[] x, int xOffset, float[] gamma, float epsilon,
                      float[] y, int yOffset, float[] invRms) {
    NormShape s = LayerNorm.shape(rows, features);
    LayerNorm.checkArrays(s, "x", x, xOffset, "y", y, yOffset);
    checkForward(s, gamma, epsilon, invRms);
    impl.rmsForward(x, xOffset, y, yOffset, rows, features, gamma, epsilon, invRms, 0);
  }

  static void forward(LayerNormSupport impl, int rows, int features, MemorySegment x, long xOffset, float[] gamma, float epsilon,
                      MemorySegment y, long yOffset, float[] invRms) {
    NormShape s = LayerNorm.shape(rows, features);
    LayerNorm.checkSegments(s, "x", x, xOffset, "y", y, yOffset);
    checkForward(s, gamma, epsilon, invRms);
    float[] xa = Staging.backingArray(x, xOffset), ya = Staging.backingArray(y, yOffset);
    if (xa != null && ya != null) {
      impl.rmsForward(xa, Staging.elementOffset(x, xOffset), ya, Staging.elementOffset(y, yOffset), rows, features, gamma, epsilon, invRms, 0);
      return;
    }
    if (Staging.plainNative(x) && Staging.plainNative(y)
        && impl.rmsForwardNative(x, xOffset, y, yOffset, rows, features, gamma, epsilon, invRms, 0)) {
      return; // straight on native memory, the array kernel's bits (PanamaNativeLayerNorm)
    }
    LayerNorm.staged(rows, features, x, xOffset, null, 0, y, yOffset,
        (xs, gs, n, r) -> impl.rmsForward(xs, 0, xs, 0, n, features, gamma, epsilon, invRms, r));
  }

  static void backward(LayerNormSupport impl, int rows, int features, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma,
                       float[] invRms, float[] dx, int dxOffset, float[] dGamma) {
    NormShape s = LayerNorm.shape(rows, features);
    LayerNorm.checkBackwardArrays(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    LayerNorm.checkBackward(s, gamma, null, null, invRms, "invRms", dGamma, null);
    LayerNorm.zero(dGamma);
    impl.rmsBackward(x, xOffset, dy, dyOffset, dx, dxOffset, rows, features, gamma, invRms, 0, dGamma);
  }

  static void backward(LayerNormSupport impl, int rows, int features, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset,
                       float[] gamma, float[] invRms, MemorySegment dx, long dxOffset, float[] dGamma) {
    NormShape s = LayerNorm.shape(rows, features);
    LayerNorm.checkBackwardSegments(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    LayerNorm.checkBackward(s, gamma, null, null, invRms, "invRms", dGamma, null);
    LayerNorm.zero(dGamma);
    float[] xa = Staging.backingArray(x, xOffset), ga = Staging.backingArray(dy, dyOffset), da = Staging.backingArray(dx, dxOffset);
    if (xa != null && ga != null && da != null) {
      impl.rmsBackward(xa, Staging.elementOffset(x, xOffset), ga, Staging.elementOffset(dy, dyOffset), da, Staging.elementOffset(dx, dxOffset),
          rows, features, gamma, invRms, 0, dGamma);
      return;
    }
    if (Staging.plainNative(x) && Staging.plainNative(dy) && Staging.plainNative(dx)
        && impl.rmsBackwardNative(x, xOffset, dy, dyOffset, dx, dxOffset, rows, features, gamma, invRms, 0, dGamma)) {
      return;
    }
    LayerNorm.staged(rows, features, x, xOffset, dy, dyOffset, dx, dxOffset,
        (xs, gs, n, r) -> impl.rmsBackward(xs, 0, gs, 0, gs, 0, n, features, gamma, invRms, r, dGamma));
  }

  static void checkForward(NormShape s, float[] gamma, float epsilon, float[] invRms) {
    Checks.perChannel("gamma", gamma, s.channels(), true);
    Checks.epsilon(epsilon);
    LayerNorm.perRow("invRms", invRms, s.outer(), true);
    Checks.distinct("invRms", invRms, "gamma", gamma);
  }
}
