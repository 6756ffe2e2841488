package dev.vecnorm;

import dev.vecnorm.internal.VectorizationProvider;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;

/**
 * Batch-normalization kernels over caller-owned buffers, with Keras semantics.
 *
 * <p>A tensor is a {@code float[]} at an element offset or a little-endian float32
 * {@link MemorySegment} at a byte offset, viewed through a {@link NormShape}
 * {@code [outer, channels, inner]}. Per-channel arrays ({@code gamma}, {@code beta}, statistics,
 * gradients) are {@code float[channels]}.
 *
 * <ul>
 *   <li>Training: {@code mean = E[x]}, {@code var = E[(x - mean)^2]} (biased), per channel over
 *       {@code outer * inner} elements; {@code invStd = 1 / sqrt(var + epsilon)};
 *       {@code y = gamma * (x - mean) * invStd + beta}.</li>
 *   <li>Inference: the same with the moving mean and variance.</li>
 *   <li>{@code gamma == null} means Keras {@code scale=False} (gamma = 1), {@code beta == null} means
 *       {@code center=False} (beta = 0).</li>
 * </ul>
 *
 * <p><b>What may alias what.</b> Aliasing that would compute a wrong result is rejected, never computed:
 * <ul>
 *   <li>A tensor output may be a tensor input in place: the same array and offset, or for segments the
 *       same memory at the same address, whichever segment objects view it ({@code y} may be {@code x};
 *       {@code dx} may be {@code dy} or {@code x}). Any other overlap of an output with an input
 *       (a shifted, partial overlap) is rejected; inputs may overlap each other freely.</li>
 *   <li>A per-channel output ({@code batchMean}, {@code batchVariance}, {@code invStd}, {@code dGamma},
 *       {@code dBeta}, {@code sumDy}, {@code sumDyXhat}, {@code movingMean}, {@code movingVariance}) must
 *       be an array of its own: the same array as any per-channel input ({@code gamma}, {@code beta},
 *       the statistics read) or as another output is rejected. Per-channel inputs may be shared.</li>
 * </ul>
 * A rejected alias throws {@link IllegalArgumentException} naming both arguments.
 *
 * <p>Every argument is checked before any output is written: a bad call throws
 * {@link IllegalArgumentException} (or {@link NullPointerException} for a missing required argument)
 * naming the argument and what was expected, and leaves every output as it was. Segments are checked
 * for bounds, read-only outputs, a closed arena and an arena confined to another thread before
 * anything is written. Shapes whose size overflows are rejected when constructed. NaN and infinity in
 * the data propagate per IEEE 754.
 *
 * <p>The vector kernels need {@code --add-modules jdk.incubator.vector}; without it the same
 * operations run on a scalar path and a warning says how to enable the fast one.
 */
public final class BatchNorm {

  private BatchNorm() {}

  /**
   * "panama" or "scalar": the implementation this JVM uses.
   *
   * @return {@code "panama"} or {@code "scalar"}
   */
  public static String implementationName() {
    return VectorizationProvider.get().name();
  }

  /**
   * Compiles the kernels for one shape before its first real call, as creating a oneDNN primitive does:
   * runs training forward, inference and backward through these public methods on private {@code float[]}
   * buffers of that shape (or of a stand-in with fewer outer slabs when it holds over 1 Mi floats), out of
   * place and now and then in place, at an unaligned offset and with null gamma, beta, dGamma and dBeta (so
   * that a program's first call with any of these does not take a path C2 compiled as never taken and
   * throw its code away), until their per-call time stops falling,
   * each has had the calls C2 needs for a method without loops (about 5700), HotSpot's compile queue holds
   * none of their methods and its code cache holds C2 code of each of these entry points (both read
   * through the DiagnosticCommand MBean; without it, until no JIT compilation has finished for 300 ms),
   * for at most 3 seconds. Without it the first calls of a shape run in HotSpot's interpreter and
   * C1 code, where vector operations are objects: call 1 takes ~1000x the steady-state time and call 50
   * still 10–100x on in-cache shapes (README, "Warm-up"). Optional; results never depend on it. Call it
   * once per shape a program will run; for tensors in native memory use {@link #warmUp(NormShape, Arena, Duration)}.
   *
   * @param shape the {@code [outer, channels, inner]} view the program will use; not null
   * @return the time spent
   */
  public static Duration warmUp(NormShape shape) {
    return WarmUp.run(shape, null, Duration.ofSeconds(3));
  }

  /**
   * {@link #warmUp(NormShape)} with a time limit, and on native segments too when {@code arena} is not
   * null. The segments (four tensors of the shape or its stand-in, at most 16 MiB) are allocated from
   * {@code arena} and live as long as it does: pass an arena of the kind the program's tensors come
   * from ({@code Arena.ofAuto()} frees them with the GC). A different kind would compile the segment
   * kernels for the wrong session class, which can make later calls on the program's own segments
   * many times slower (README, "Warm-up").
   *
   * @param shape the {@code [outer, channels, inner]} view the program will use; not null
   * @param arena where the native warm-up tensors come from; null warms the {@code float[]} kernels only
   * @param budget the most time to spend; positive
   * @return the time spent (at most about {@code budget} plus one call)
   */
  public static Duration warmUp(NormShape shape, Arena arena, Duration budget) {
    return WarmUp.run(shape, arena, budget);
  }

  /**
   * Training forward: writes the batch mean, the biased batch variance and {@code invStd}, and
   * {@code y = gamma * (x - mean) * invStd + beta}.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor: {@code s.size()} floats from element offset {@code yOffset}; may be {@code x} at the same offset (in place)
   * @param yOffset element offset of {@code y}'s first float in the array, at least 0
   * @param batchMean output: per-channel batch mean, {@code float[channels]}
   * @param batchVariance output: per-channel biased batch variance, {@code float[channels]}
   * @param invStd output: per-channel {@code 1 / sqrt(batchVariance + epsilon)}, {@code float[channels]}
   */
  public static void forwardTraining(NormShape s, float[] x, int xOffset, float[] gamma, float[] beta, float epsilon,
                                     float[] y, int yOffset, float[] batchMean, float[] batchVariance, float[] invStd) {
    Kernels.DEFAULT.forwardTraining(s, x, xOffset, gamma, beta, epsilon, y, yOffset, batchMean, batchVariance, invStd);
  }

  /**
   * {@link #forwardTraining(NormShape, float[], int, float[], float[], float, float[], int, float[], float[], float[])} on segments; offsets in bytes.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code yOffset}; may be {@code x} at the same offset (in place)
   * @param yOffset byte offset of {@code y}'s first element in the segment, at least 0
   * @param batchMean output: per-channel batch mean, {@code float[channels]}
   * @param batchVariance output: per-channel biased batch variance, {@code float[channels]}
   * @param invStd output: per-channel {@code 1 / sqrt(batchVariance + epsilon)}, {@code float[channels]}
   */
  public static void forwardTraining(NormShape s, MemorySegment x, long xOffset, float[] gamma, float[] beta, float epsilon,
                                     MemorySegment y, long yOffset, float[] batchMean, float[] batchVariance, float[] invStd) {
    Kernels.DEFAULT.forwardTraining(s, x, xOffset, gamma, beta, epsilon, y, yOffset, batchMean, batchVariance, invStd);
  }

  /**
   * Inference forward: {@code y = gamma * (x - movingMean) / sqrt(movingVariance + epsilon) + beta}.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param movingMean per-channel moving mean, {@code float[channels]}
   * @param movingVariance per-channel moving variance, {@code float[channels]}
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor: {@code s.size()} floats from element offset {@code yOffset}; may be {@code x} at the same offset (in place)
   * @param yOffset element offset of {@code y}'s first float in the array, at least 0
   */
  public static void forwardInference(NormShape s, float[] x, int xOffset, float[] gamma, float[] beta,
                                      float[] movingMean, float[] movingVariance, float epsilon, float[] y, int yOffset) {
    Kernels.DEFAULT.forwardInference(s, x, xOffset, gamma, beta, movingMean, movingVariance, epsilon, y, yOffset);
  }

  /**
   * {@link #forwardInference(NormShape, float[], int, float[], float[], float[], float[], float, float[], int)} on segments; offsets in bytes.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param movingMean per-channel moving mean, {@code float[channels]}
   * @param movingVariance per-channel moving variance, {@code float[channels]}
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code yOffset}; may be {@code x} at the same offset (in place)
   * @param yOffset byte offset of {@code y}'s first element in the segment, at least 0
   */
  public static void forwardInference(NormShape s, MemorySegment x, long xOffset, float[] gamma, float[] beta,
                                      float[] movingMean, float[] movingVariance, float epsilon, MemorySegment y, long yOffset) {
    Kernels.DEFAULT.forwardInference(s, x, xOffset, gamma, beta, movingMean, movingVariance, epsilon, y, yOffset);
  }

  /**
   * Backward of training-mode batch norm given the forward's {@code batchMean} and {@code invStd}:
   * {@code dBeta = sum(dy)}, {@code dGamma = sum(dy * xhat)},
   * {@code dx = gamma * invStd * (dy - mean(dy) - xhat * mean(dy * xhat))} with
   * {@code xhat = (x - mean) * invStd}. {@code dGamma} and {@code dBeta} may be null when not wanted
   * (the call then allocates two per-channel temporaries).
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param dy gradient of the loss with respect to the output {@code y}: {@code s.size()} floats from element offset {@code dyOffset}
   * @param dyOffset element offset of {@code dy}'s first float in the array, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param batchMean per-channel batch mean the forward wrote, {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param dx output: gradient of the loss with respect to {@code x}: {@code s.size()} floats from element offset {@code dxOffset}; may be {@code dy} or {@code x} at the same offset
   * @param dxOffset element offset of {@code dx}'s first float in the array, at least 0
   * @param dGamma output: per-channel gradient with respect to {@code gamma}, {@code float[channels]}, or null when not wanted
   * @param dBeta output: per-channel gradient with respect to {@code beta}, {@code float[channels]}, or null when not wanted
   */
  public static void backward(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma,
                              float[] batchMean, float[] invStd, float[] dx, int dxOffset, float[] dGamma, float[] dBeta) {
    Kernels.DEFAULT.backward(s, x, xOffset, dy, dyOffset, gamma, batchMean, invStd, dx, dxOffset, dGamma, dBeta);
  }

  /**
   * {@link #backward(NormShape, float[], int, float[], int, float[], float[], float[], float[], int, float[], float[])} on segments; offsets in bytes.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param dy gradient of the loss with respect to the output {@code y}: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code dyOffset}
   * @param dyOffset byte offset of {@code dy}'s first element in the segment, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param batchMean per-channel batch mean the forward wrote, {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param dx output: gradient of the loss with respect to {@code x}: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code dxOffset}; may be {@code dy} or {@code x} at the same offset
   * @param dxOffset byte offset of {@code dx}'s first element in the segment, at least 0
   * @param dGamma output: per-channel gradient with respect to {@code gamma}, {@code float[channels]}, or null when not wanted
   * @param dBeta output: per-channel gradient with respect to {@code beta}, {@code float[channels]}, or null when not wanted
   */
  public static void backward(NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] gamma,
                              float[] batchMean, float[] invStd, MemorySegment dx, long dxOffset, float[] dGamma, float[] dBeta) {
    Kernels.DEFAULT.backward(s, x, xOffset, dy, dyOffset, gamma, batchMean, invStd, dx, dxOffset, dGamma, dBeta);
  }

  /**
   * Keras's update: {@code moving = moving * momentum + batch * (1 - momentum)}, for the mean and the
   * biased batch variance.
   *
   * @param momentum weight of the old moving value, in [0, 1]
   * @param batchMean per-channel batch mean, {@code float[channels]}
   * @param batchVariance per-channel biased batch variance, {@code float[channels]}
   * @param movingMean per-channel moving mean, {@code float[channels]}, updated in place
   * @param movingVariance per-channel moving variance, {@code float[channels]}, updated in place
   */
  public static void updateMovingStatistics(float momentum, float[] batchMean, float[] batchVariance,
                                            float[] movingMean, float[] movingVariance) {
    checkUpdate(momentum, batchMean, batchVariance, movingMean, movingVariance);
    update(momentum, batchMean, batchVariance, 1f, movingMean, movingVariance);
  }

  /**
   * The update with a choice of variance: {@link MovingVariance#UNBIASED} feeds
   * {@code batchVariance * count / (count - 1)} into the moving variance, as PyTorch's running_var;
   * {@code count} is the number of elements per channel the batch statistics covered.
   *
   * @param momentum weight of the old moving value, in [0, 1]
   * @param batchMean per-channel batch mean, {@code float[channels]}
   * @param batchVariance per-channel biased batch variance, {@code float[channels]}
   * @param movingMean per-channel moving mean, {@code float[channels]}, updated in place
   * @param movingVariance per-channel moving variance, {@code float[channels]}, updated in place
   * @param count elements per channel the batch statistics covered (at least 2 for {@link MovingVariance#UNBIASED})
   * @param mode which batch variance feeds the moving variance; not null
   */
  public static void updateMovingStatistics(float momentum, float[] batchMean, float[] batchVariance,
                                            float[] movingMean, float[] movingVariance, long count, MovingVariance mode) {
    checkUpdate(momentum, batchMean, batchVariance, movingMean, movingVariance);
    java.util.Objects.requireNonNull(mode, "mode");
    Checks.count("count", count, mode == MovingVariance.UNBIASED ? 2 : 1);
    float correction = mode == MovingVariance.UNBIASED ? (float) ((double) count / (count - 1)) : 1f;
    update(momentum, batchMean, batchVariance, correction, movingMean, movingVariance);
  }

  private static void checkUpdate(float momentum, float[] batchMean, float[] batchVariance, float[] movingMean,
                                  float[] movingVariance) {
    Checks.momentum(momentum);
    java.util.Objects.requireNonNull(batchMean, "batchMean");
    int channels = batchMean.length;
    Checks.perChannel("batchVariance", batchVariance, channels, false);
    Checks.perChannel("movingMean", movingMean, channels, false);
    Checks.perChannel("movingVariance", movingVariance, channels, false);
    Checks.distinct("movingMean", movingMean, "movingVariance", movingVariance);
    // Channel by channel the mean is updated before the variance is read.
    Checks.notAnInput("movingMean", movingMean, "batchMean", batchMean, "batchVariance", batchVariance, null, null);
    Checks.notAnInput("movingVariance", movingVariance, "batchMean", batchMean, "batchVariance", batchVariance, null, null);
  }

  private static void update(float momentum, float[] batchMean, float[] batchVariance, float varianceCorrection,
                             float[] movingMean, float[] movingVariance) {
    float keep = momentum, take = 1f - momentum;
    for (int c = 0; c < batchMean.length; c++) {
      movingMean[c] = movingMean[c] * keep + batchMean[c] * take;
      movingVariance[c] = movingVariance[c] * keep + batchVariance[c] * varianceCorrection * take;
    }
  }

  // ------------------------------------------------------------ phases of synchronized batch norm

  /**
   * Local moments of this tensor (replacing the content of {@code out}); merge replicas' with {@link Moments#merge}.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param out receives this tensor's per-channel moments (its content is replaced); channel count {@code s.channels()}
   */
  public static void moments(NormShape s, float[] x, int xOffset, Moments out) {
    Kernels.DEFAULT.moments(s, x, xOffset, out);
  }

  /**
   * {@link #moments(NormShape, float[], int, Moments)} on a segment; offset in bytes.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param out receives this tensor's per-channel moments (its content is replaced); channel count {@code s.channels()}
   */
  public static void moments(NormShape s, MemorySegment x, long xOffset, Moments out) {
    Kernels.DEFAULT.moments(s, x, xOffset, out);
  }

  /**
   * {@code y = gamma * (x - mean) * invStd + beta} with given (for example global) statistics.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param mean per-channel mean to normalize with (for example the global batch mean), {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param y output tensor: {@code s.size()} floats from element offset {@code yOffset}; may be {@code x} at the same offset (in place)
   * @param yOffset element offset of {@code y}'s first float in the array, at least 0
   */
  public static void normalize(NormShape s, float[] x, int xOffset, float[] mean, float[] invStd, float[] gamma,
                               float[] beta, float[] y, int yOffset) {
    Kernels.DEFAULT.normalize(s, x, xOffset, mean, invStd, gamma, beta, y, yOffset);
  }

  /**
   * {@link #normalize(NormShape, float[], int, float[], float[], float[], float[], float[], int)} on segments; offsets in bytes.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param mean per-channel mean to normalize with (for example the global batch mean), {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param y output tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code yOffset}; may be {@code x} at the same offset (in place)
   * @param yOffset byte offset of {@code y}'s first element in the segment, at least 0
   */
  public static void normalize(NormShape s, MemorySegment x, long xOffset, float[] mean, float[] invStd, float[] gamma,
                               float[] beta, MemorySegment y, long yOffset) {
    Kernels.DEFAULT.normalize(s, x, xOffset, mean, invStd, gamma, beta, y, yOffset);
  }

  /**
   * Local backward sums: {@code sumDy = sum(dy)}, {@code sumDyXhat = sum(dy * (x - mean) * invStd)} per
   * channel. All-reduce them (add) across replicas, then call {@link #backwardApply}.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param dy gradient of the loss with respect to the output {@code y}: {@code s.size()} floats from element offset {@code dyOffset}
   * @param dyOffset element offset of {@code dy}'s first float in the array, at least 0
   * @param mean per-channel mean to normalize with (for example the global batch mean), {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param sumDy output: per-channel local {@code sum(dy)}, {@code float[channels]}
   * @param sumDyXhat output: per-channel local {@code sum(dy * xhat)}, {@code float[channels]}
   */
  public static void backwardReduce(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] mean,
                                    float[] invStd, float[] sumDy, float[] sumDyXhat) {
    Kernels.DEFAULT.backwardReduce(s, x, xOffset, dy, dyOffset, mean, invStd, sumDy, sumDyXhat);
  }

  /**
   * {@link #backwardReduce(NormShape, float[], int, float[], int, float[], float[], float[], float[])} on segments; offsets in bytes.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param dy gradient of the loss with respect to the output {@code y}: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code dyOffset}
   * @param dyOffset byte offset of {@code dy}'s first element in the segment, at least 0
   * @param mean per-channel mean to normalize with (for example the global batch mean), {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param sumDy output: per-channel local {@code sum(dy)}, {@code float[channels]}
   * @param sumDyXhat output: per-channel local {@code sum(dy * xhat)}, {@code float[channels]}
   */
  public static void backwardReduce(NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset,
                                    float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat) {
    Kernels.DEFAULT.backwardReduce(s, x, xOffset, dy, dyOffset, mean, invStd, sumDy, sumDyXhat);
  }

  /**
   * {@code dx = gamma * invStd * (dy - sumDy/globalCount - xhat * sumDyXhat/globalCount)} from the
   * all-reduced sums; {@code globalCount} is the element count per channel across all replicas.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param dy gradient of the loss with respect to the output {@code y}: {@code s.size()} floats from element offset {@code dyOffset}
   * @param dyOffset element offset of {@code dy}'s first float in the array, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param mean per-channel mean to normalize with (for example the global batch mean), {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param sumDy per-channel {@code sum(dy)} all-reduced across replicas, {@code float[channels]}
   * @param sumDyXhat per-channel {@code sum(dy * xhat)} all-reduced across replicas, {@code float[channels]}
   * @param globalCount elements per channel across all replicas, at least 1
   * @param dx output: gradient of the loss with respect to {@code x}: {@code s.size()} floats from element offset {@code dxOffset}; may be {@code dy} or {@code x} at the same offset
   * @param dxOffset element offset of {@code dx}'s first float in the array, at least 0
   */
  public static void backwardApply(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma,
                                   float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat, long globalCount,
                                   float[] dx, int dxOffset) {
    Kernels.DEFAULT.backwardApply(s, x, xOffset, dy, dyOffset, gamma, mean, invStd, sumDy, sumDyXhat, globalCount, dx, dxOffset);
  }

  /**
   * {@link #backwardApply(NormShape, float[], int, float[], int, float[], float[], float[], float[], float[], long, float[], int)} on segments; offsets in bytes.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param dy gradient of the loss with respect to the output {@code y}: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code dyOffset}
   * @param dyOffset byte offset of {@code dy}'s first element in the segment, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param mean per-channel mean to normalize with (for example the global batch mean), {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param sumDy per-channel {@code sum(dy)} all-reduced across replicas, {@code float[channels]}
   * @param sumDyXhat per-channel {@code sum(dy * xhat)} all-reduced across replicas, {@code float[channels]}
   * @param globalCount elements per channel across all replicas, at least 1
   * @param dx output: gradient of the loss with respect to {@code x}: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code dxOffset}; may be {@code dy} or {@code x} at the same offset
   * @param dxOffset byte offset of {@code dx}'s first element in the segment, at least 0
   */
  public static void backwardApply(NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset,
                                   float[] gamma, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat,
                                   long globalCount, MemorySegment dx, long dxOffset) {
    Kernels.DEFAULT.backwardApply(s, x, xOffset, dy, dyOffset, gamma, mean, invStd, sumDy, sumDyXhat, globalCount, dx, dxOffset);
  }
}
