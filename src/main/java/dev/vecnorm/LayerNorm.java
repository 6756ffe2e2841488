package dev.vecnorm;

import dev.vecnorm.internal.LayerNormSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Layer normalization over rows: a tensor of {@code rows} row-major rows of {@code features} floats
 * (a {@code float[]} at an element offset or a little-endian float32 {@link MemorySegment} at a byte
 * offset), each row normalized over its own features:
 * {@code mean}, biased {@code var}, {@code invStd = 1/sqrt(var + epsilon)},
 * {@code y = (x - mean) * invStd * gamma + beta}, with per-feature {@code gamma}, {@code beta}
 * ({@code float[features]}; null means Keras {@code scale=False} / {@code center=False}) and per-row
 * statistics ({@code float[rows]}) for the backward.
 *
 * <p>Same guarantees as {@link BatchNorm}: every argument is checked before anything is written
 * ({@link IllegalArgumentException} naming the argument and the expected length, or
 * {@link NullPointerException} for a missing required one); a tensor output may be an input in place
 * ({@code y == x}, {@code dx == dy} or {@code dx == x} at the same offset), any other overlap is
 * rejected, and a per-feature or per-row output may not be the same array as an input or another output.
 * {@link RmsNorm} is the same family without centering.
 */
public final class LayerNorm {

  private static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  /** Rows staged per block for segments neither backed by a float[] nor served by a native body: about 64 KiB per tensor. */
  private static final int STAGE_FLOATS = 16 * 1024;

  private LayerNorm() {}

  /**
   * Runs layer norm forward and backward on private {@code float[]} tensors of this size until C2 has compiled them, for at
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
    return WarmUp.rows(rows, features, false, null, java.time.Duration.ofSeconds(3));
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
    return WarmUp.rows(rows, features, false, arena, budget);
  }

  /**
   * Forward: writes {@code y} and, when non-null, the per-row {@code mean} and {@code invStd} ({@code float[rows]}).
   *
   * @param rows number of rows (samples) normalized independently, at least 1
   * @param features floats per row, normalized together, at least 1
   * @param x input tensor: {@code rows * features} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param gamma per-feature scale, {@code float[features]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-feature offset, {@code float[features]}; null means beta = 0 (Keras {@code center=False})
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor: {@code rows * features} floats from element offset {@code yOffset}; may be {@code x} at the same offset (in place)
   * @param yOffset element offset of {@code y}'s first float in the array, at least 0
   * @param mean output, may be null: per-row mean, {@code float[rows]}
   * @param invStd output, may be null: per-row {@code 1 / sqrt(var + epsilon)}, {@code float[rows]}; not the same array as {@code mean}
   * @throws IllegalArgumentException if a length, offset, epsilon or alias is wrong (names the argument and the
   *     expected shape); nothing is written
   * @throws NullPointerException if a required argument is null
   */
  public static void forward(int rows, int features, float[] x, int xOffset, float[] gamma, float[] beta, float epsilon,
                             float[] y, int yOffset, float[] mean, float[] invStd) {
    forward(VectorizationProvider.layerNorm(), rows, features, x, xOffset, gamma, beta, epsilon, y, yOffset, mean, invStd);
  }

  /**
   * {@link #forward(int, int, float[], int, float[], float[], float, float[], int, float[], float[])} on segments; offsets in bytes.
   *
   * @param rows number of rows (samples) normalized independently, at least 1
   * @param features floats per row, normalized together, at least 1
   * @param x input tensor: little-endian float32 segment holding {@code rows * features} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param gamma per-feature scale, {@code float[features]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-feature offset, {@code float[features]}; null means beta = 0 (Keras {@code center=False})
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor: little-endian float32 segment holding {@code rows * features} floats from byte offset {@code yOffset}; may be {@code x} at the same offset (in place)
   * @param yOffset byte offset of {@code y}'s first element in the segment, at least 0
   * @param mean output, may be null: per-row mean, {@code float[rows]}
   * @param invStd output, may be null: per-row {@code 1 / sqrt(var + epsilon)}, {@code float[rows]}; not the same array as {@code mean}
   * @throws IllegalArgumentException if a length, offset, epsilon or alias is wrong, a segment is out of bounds, an
   *     output segment is read-only, or a segment's arena is closed or confined to another thread; nothing is written
   * @throws NullPointerException if a required argument is null
   */
  public static void forward(int rows, int features, MemorySegment x, long xOffset, float[] gamma, float[] beta, float epsilon,
                             MemorySegment y, long yOffset, float[] mean, float[] invStd) {
    forward(VectorizationProvider.layerNorm(), rows, features, x, xOffset, gamma, beta, epsilon, y, yOffset, mean, invStd);
  }

  /**
   * Backward given the forward's {@code mean} and {@code invStd}: with {@code xhat = (x - mean) * invStd}
   * and {@code g = dy * gamma}, {@code dx = invStd * (g - mean(g) - xhat * mean(g * xhat))} per row;
   * {@code dGamma = Σ_rows dy * xhat}, {@code dBeta = Σ_rows dy} (overwritten; either may be null).
   *
   * @param rows number of rows (samples) normalized independently, at least 1
   * @param features floats per row, normalized together, at least 1
   * @param x the forward's input tensor: {@code rows * features} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param dy input: gradient of the loss with respect to {@code y}: {@code rows * features} floats from element offset {@code dyOffset}
   * @param dyOffset element offset of {@code dy}'s first float in the array, at least 0
   * @param gamma per-feature scale used in the forward, {@code float[features]}; null means gamma = 1
   * @param mean the forward's per-row mean, {@code float[rows]}; not null
   * @param invStd the forward's per-row {@code 1 / sqrt(var + epsilon)}, {@code float[rows]}; not null
   * @param dx output: gradient with respect to {@code x}: {@code rows * features} floats from element offset {@code dxOffset}; may be {@code dy} or {@code x} at the same offset (in place)
   * @param dxOffset element offset of {@code dx}'s first float in the array, at least 0
   * @param dGamma output, may be null: per-feature {@code Σ_rows dy * xhat}, {@code float[features]}, overwritten
   * @param dBeta output, may be null: per-feature {@code Σ_rows dy}, {@code float[features]}, overwritten
   * @throws IllegalArgumentException if a length, offset or alias is wrong (names the argument and the
   *     expected shape); nothing is written
   * @throws NullPointerException if a required argument is null
   */
  public static void backward(int rows, int features, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma,
                              float[] mean, float[] invStd, float[] dx, int dxOffset, float[] dGamma, float[] dBeta) {
    backward(VectorizationProvider.layerNorm(), rows, features, x, xOffset, dy, dyOffset, gamma, mean, invStd, dx, dxOffset, dGamma, dBeta);
  }

  /**
   * {@link #backward(int, int, float[], int, float[], int, float[], float[], float[], float[], int, float[], float[])} on segments; offsets in bytes.
   *
   * @param rows number of rows (samples) normalized independently, at least 1
   * @param features floats per row, normalized together, at least 1
   * @param x the forward's input tensor: little-endian float32 segment holding {@code rows * features} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param dy input: gradient of the loss with respect to {@code y}: little-endian float32 segment holding {@code rows * features} floats from byte offset {@code dyOffset}
   * @param dyOffset byte offset of {@code dy}'s first element in the segment, at least 0
   * @param gamma per-feature scale used in the forward, {@code float[features]}; null means gamma = 1
   * @param mean the forward's per-row mean, {@code float[rows]}; not null
   * @param invStd the forward's per-row {@code 1 / sqrt(var + epsilon)}, {@code float[rows]}; not null
   * @param dx output: gradient with respect to {@code x}: little-endian float32 segment holding {@code rows * features} floats from byte offset {@code dxOffset}; may be {@code dy} or {@code x} at the same offset (in place)
   * @param dxOffset byte offset of {@code dx}'s first element in the segment, at least 0
   * @param dGamma output, may be null: per-feature {@code Σ_rows dy * xhat}, {@code float[features]}, overwritten
   * @param dBeta output, may be null: per-feature {@code Σ_rows dy}, {@code float[features]}, overwritten
   * @throws IllegalArgumentException if a length, offset or alias is wrong, a segment is out of bounds, an
   *     output segment is read-only, or a segment's arena is closed or confined to another thread; nothing is written
   * @throws NullPointerException if a required argument is null
   */
  public static void backward(int rows, int features, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] gamma,
                              float[] mean, float[] invStd, MemorySegment dx, long dxOffset, float[] dGamma, float[] dBeta) {
    backward(VectorizationProvider.layerNorm(), rows, features, x, xOffset, dy, dyOffset, gamma, mean, invStd, dx, dxOffset, dGamma, dBeta);
  }

  // ---------------------------------------------------------------- per implementation (tests run both)

  static void forward(LayerNormSupport impl, int rows, int features, float[] x, int xOffset, float[] gamma, float[] beta,
                      float epsilon, float[] y, int yOffset, float[] mean, float[] invStd) {
    NormShape s = shape(rows, features);
    checkArrays(s, "x", x, xOffset, "y", y, yOffset);
    checkForward(s, gamma, beta, epsilon, mean, invStd);
    impl.forward(x, xOffset, y, yOffset, rows, features, gamma, beta, epsilon, mean, invStd, 0);
  }

  static void forward(LayerNormSupport impl, int rows, int features, MemorySegment x, long xOffset, float[] gamma, float[] beta,
                      float epsilon, MemorySegment y, long yOffset, float[] mean, float[] invStd) {
    NormShape s = shape(rows, features);
    checkSegments(s, "x", x, xOffset, "y", y, yOffset);
    checkForward(s, gamma, beta, epsilon, mean, invStd);
    float[] xa = Staging.backingArray(x, xOffset), ya = Staging.backingArray(y, yOffset);
    if (xa != null && ya != null) {
      impl.forward(xa, Staging.elementOffset(x, xOffset), ya, Staging.elementOffset(y, yOffset), rows, features, gamma, beta,
          epsilon, mean, invStd, 0);
      return;
    }
    if (Staging.plainNative(x) && Staging.plainNative(y)
        && impl.forwardNative(x, xOffset, y, yOffset, rows, features, gamma, beta, epsilon, mean, invStd, 0)) {
      return; // straight on native memory, the array kernel's bits (PanamaNativeLayerNorm)
    }
    staged(rows, features, x, xOffset, null, 0, y, yOffset,
        (xs, gs, n, r) -> impl.forward(xs, 0, xs, 0, n, features, gamma, beta, epsilon, mean, invStd, r));
  }

  static void backward(LayerNormSupport impl, int rows, int features, float[] x, int xOffset, float[] dy, int dyOffset,
                       float[] gamma, float[] mean, float[] invStd, float[] dx, int dxOffset, float[] dGamma, float[] dBeta) {
    NormShape s = shape(rows, features);
    checkBackwardArrays(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    checkBackward(s, gamma, mean, "mean", invStd, "invStd", dGamma, dBeta);
    zero(dGamma);
    zero(dBeta);
    impl.backward(x, xOffset, dy, dyOffset, dx, dxOffset, rows, features, gamma, mean, invStd, 0, dGamma, dBeta);
  }

  static void backward(LayerNormSupport impl, int rows, int features, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset,
                       float[] gamma, float[] mean, float[] invStd, MemorySegment dx, long dxOffset, float[] dGamma, float[] dBeta) {
    NormShape s = shape(rows, features);
    checkBackwardSegments(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    checkBackward(s, gamma, mean, "mean", invStd, "invStd", dGamma, dBeta);
    zero(dGamma);
    zero(dBeta);
    float[] xa = Staging.backingArray(x, xOffset), ga = Staging.backingArray(dy, dyOffset), da = Staging.backingArray(dx, dxOffset);
    if (xa != null && ga != null && da != null) {
      impl.backward(xa, Staging.elementOffset(x, xOffset), ga, Staging.elementOffset(dy, dyOffset), da, Staging.elementOffset(dx, dxOffset),
          rows, features, gamma, mean, invStd, 0, dGamma, dBeta);
      return;
    }
    if (Staging.plainNative(x) && Staging.plainNative(dy) && Staging.plainNative(dx)
        && impl.backwardNative(x, xOffset, dy, dyOffset, dx, dxOffset, rows, features, gamma, mean, invStd, 0, dGamma, dBeta)) {
      return;
    }
    staged(rows, features, x, xOffset, dy, dyOffset, dx, dxOffset,
        (xs, gs, n, r) -> impl.backward(xs, 0, gs, 0, gs, 0, n, features, gamma, mean, invStd, r, dGamma, dBeta));
  }

  /** A kernel over {@code n} staged rows starting at row {@code firstRow}; writes its output over {@code dy}, or over {@code x} when there is no dy. */
  interface StagedRows {
    void run(float[] x, float[] dy, int n, int firstRow);
  }

  /**
   * Segments neither backed by a float[] nor plain native (mapped files, or every segment with the scalar
   * implementation): blocks of whole rows (about 64 KiB) are copied into per-call
   * arrays, the kernel runs there in place, and the block is copied out to {@code out}. Each block is
   * read completely before it is written, so {@code out} may be an input at the same address.
   */
  static void staged(int rows, int features, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment out,
                     long outOffset, StagedRows kernel) {
    int block = blockRows(rows, features);
    float[] xs = new float[block * features], gs = dy == null ? null : new float[block * features];
    for (int r = 0; r < rows; r += block) {
      int n = Math.min(block, rows - r);
      long bytes = (long) r * features * Float.BYTES;
      MemorySegment.copy(x, LE_FLOAT, xOffset + bytes, xs, 0, n * features);
      if (dy != null) MemorySegment.copy(dy, LE_FLOAT, dyOffset + bytes, gs, 0, n * features);
      kernel.run(xs, gs, n, r);
      MemorySegment.copy(dy == null ? xs : gs, 0, out, LE_FLOAT, outOffset + bytes, n * features);
    }
  }

  // ---------------------------------------------------------------- checks shared with RmsNorm

  /**
   * The last shape {@link #shape} returned. A new {@code NormShape} per call cost 24 B a call, every call, in
   * an application's loop: the checks it is passed to are not always inlined, so escape analysis kept it.
   * Calls on one tensor size (a model's layers, a training loop) reuse it instead. A racy read is safe: a
   * record's fields are final, so another thread sees either shape whole.
   */
  private static NormShape lastShape = NormShape.channelsLast(1, 1);

  /** The tensor as rows of features; NormShape rejects rows or features < 1 and sizes that overflow. */
  static NormShape shape(int rows, int features) {
    if (rows < 1) throw new IllegalArgumentException("rows must be >= 1, got " + rows);
    if (features < 1) throw new IllegalArgumentException("features must be >= 1, got " + features);
    NormShape last = lastShape;
    if (last.outer() == rows && last.channels() == features) return last;
    return lastShape = NormShape.channelsLast(rows, features);
  }

  static void checkArrays(NormShape s, String inName, float[] in, int inOffset, String outName, float[] out, int outOffset) {
    Checks.tensor(inName, in, inOffset, s);
    Checks.tensor(outName, out, outOffset, s);
    Checks.noPartialOverlap(outName, out, outOffset, inName, in, inOffset, s);
  }

  static void checkSegments(NormShape s, String inName, MemorySegment in, long inOffset, String outName, MemorySegment out, long outOffset) {
    Checks.tensor(inName, in, inOffset, s, false);
    Checks.tensor(outName, out, outOffset, s, true);
    Checks.noPartialOverlap(outName, out, outOffset, inName, in, inOffset, s);
  }

  static void checkBackwardArrays(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset) {
    Checks.tensor("dy", dy, dyOffset, s);
    checkArrays(s, "x", x, xOffset, "dx", dx, dxOffset);
    Checks.noPartialOverlap("dx", dx, dxOffset, "dy", dy, dyOffset, s);
  }

  static void checkBackwardSegments(NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                                    long dxOffset) {
    Checks.tensor("dy", dy, dyOffset, s, false);
    checkSegments(s, "x", x, xOffset, "dx", dx, dxOffset);
    Checks.noPartialOverlap("dx", dx, dxOffset, "dy", dy, dyOffset, s);
  }

  static void checkForward(NormShape s, float[] gamma, float[] beta, float epsilon, float[] mean, float[] invStd) {
    Checks.perChannel("gamma", gamma, s.channels(), true);
    Checks.perChannel("beta", beta, s.channels(), true);
    Checks.epsilon(epsilon);
    perRow("mean", mean, s.outer(), true);
    perRow("invStd", invStd, s.outer(), true);
    Checks.distinct("mean", mean, "invStd", invStd);
    // Statistics are written row by row while gamma and beta are still read.
    Checks.notAnInput("mean", mean, "gamma", gamma, "beta", beta, null, null);
    Checks.notAnInput("invStd", invStd, "gamma", gamma, "beta", beta, null, null);
  }

  /** Backward's per-feature and per-row arguments; {@code bName}/{@code b} is the optional second statistic. */
  static void checkBackward(NormShape s, float[] gamma, float[] a, String aName, float[] b, String bName, float[] dGamma, float[] dBeta) {
    Checks.perChannel("gamma", gamma, s.channels(), true);
    if (a != null || aName != null) perRow(aName, a, s.outer(), false);
    perRow(bName, b, s.outer(), false);
    Checks.perChannel("dGamma", dGamma, s.channels(), true);
    Checks.perChannel("dBeta", dBeta, s.channels(), true);
    Checks.distinct("dGamma", dGamma, "dBeta", dBeta);
    // The gradients are zeroed first, so they must not be any array still read.
    Checks.notAnInput("dGamma", dGamma, "gamma", gamma, aName, a, bName, b);
    Checks.notAnInput("dBeta", dBeta, "gamma", gamma, aName, a, bName, b);
  }

  /** A per-row array: exactly {@code rows} floats. */
  static void perRow(String name, float[] a, int rows, boolean optional) {
    if (a == null) {
      if (optional) return;
      throw new NullPointerException(name);
    }
    if (a.length != rows) throw new IllegalArgumentException(name + " must have length rows = " + rows + ", got " + a.length);
  }

  /** Rows per staging block: whole rows of about {@link #STAGE_FLOATS} floats, at least one. */
  static int blockRows(int rows, int features) {
    return Math.max(1, Math.min(rows, STAGE_FLOATS / features));
  }

  static void zero(float[] a) {
    if (a != null) Arrays.fill(a, 0f);
  }
}
