package dev.vecnorm.dl4j;

import dev.vecnorm.Moments;
import dev.vecnorm.NormShape;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Map;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.normalization.BatchNormalizationHelper;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A DL4J {@link BatchNormalizationHelper} on vecnorm's kernels, for float32 tensors in CPU memory.
 *
 * <p><b>What DL4J 1.0.0-M2.1 expects of a helper, and what this one does.</b>
 * <ul>
 *   <li>{@code preOutput} in training mode returns {@code gamma * (x - mean) / sqrt(var + eps) + beta} with
 *       the batch mean and the <em>biased</em> batch variance ({@code x.var(false, dims)} in DL4J's own
 *       path), and does not touch the running statistics. DL4J updates those itself, in
 *       {@code backpropGradient}, as a "gradient" {@code (1 - decay) * (global - batch)} computed from
 *       {@link #getMeanCache} and {@link #getVarCache}: so those return the last training batch's mean and
 *       biased variance (without {@code eps}), per channel, as rank-1 {@code [C]} arrays like DL4J's
 *       {@code input.mean(dims)}. The {@code decay} argument is therefore unused here.</li>
 *   <li>{@code preOutput} in inference mode uses the global mean and variance DL4J passes (it converts
 *       a log10(std) parameterization to a variance before the call).</li>
 *   <li>{@code backpropGradient} writes dGamma and dBeta into DL4J's gradient views and returns
 *       dL/dx in the {@code ACTIVATION_GRAD} workspace.</li>
 *   <li>Rank-2 input arrives as {@code [N, C, 1, 1]} (or {@code [N, 1, 1, C]}); it is {@code [N, C]} rows either way.</li>
 *   <li>{@code lockGammaBeta}: DL4J passes constant gamma/beta arrays for rank 4 but {@code null} for
 *       rank 2, so the helper keeps the layer's configured constants for that case.</li>
 *   <li>Returning {@code null} makes DL4J run its built-in path for that call: this helper does so for
 *       any data type but float32, for tensors that are not one dense c-order block (f-order, strided
 *       views) and for shapes it cannot map. It never throws on such input, because a throw disables the
 *       helper for the layer for good.</li>
 * </ul>
 *
 * <p><b>Threads.</b> When ND4J runs more than one thread ({@code Nd4j.getEnvironment().maxThreads()}, set by
 * {@code OMP_NUM_THREADS}), tensors above 512 KiB run on {@code ParallelBatchNorm}: one pool per thread count
 * for the whole JVM, of daemon workers that park when idle. Its results are the same bits for any thread
 * count above 1 and equal the single-threaded kernels' to float rounding.
 *
 * <p>One instance per layer, not thread-safe (DL4J uses a layer from one thread at a time; ParallelWrapper
 * clones the model, and the clone needs {@link VecnormHelpers#install} again).
 */
public final class VecnormBatchNormHelper implements BatchNormalizationHelper {

  private final boolean lockGammaBeta;
  private final float lockedGamma;
  private final float lockedBeta;
  private final SegmentKernels kernels;

  // Per-channel buffers, reallocated only when the channel count changes.
  private int channels = -1;
  private float[] gamma, beta, movingMean, movingVariance, batchMean, batchVariance, invStd, dGamma, dBeta;

  // Which tensor the batch statistics above belong to: backward reuses them only for the same memory and shape.
  private boolean statisticsValid;
  private long statisticsAddress;
  private NormShape statisticsShape;

  /** A helper for a layer with learned gamma and beta, on as many threads as ND4J runs. */
  public VecnormBatchNormHelper() {
    this(false, 1.0, 0.0, SegmentKernels.forThreads(Nd4j.getEnvironment().maxThreads()));
  }

  /**
   * A helper for a layer configured as {@code conf} (reads {@code lockGammaBeta}, {@code gamma} and
   * {@code beta}), on as many threads as ND4J runs: {@code Nd4j.getEnvironment().maxThreads()}, read now.
   */
  public VecnormBatchNormHelper(org.deeplearning4j.nn.conf.layers.BatchNormalization conf) {
    this(conf, Nd4j.getEnvironment().maxThreads());
  }

  /**
   * A helper for a layer configured as {@code conf} on up to {@code threads} threads: 1 runs vecnorm's
   * single-threaded kernels; more runs tensors above 512 KiB on a JVM-wide {@code ParallelBatchNorm} of
   * {@code min(threads, availableProcessors())} threads (smaller ones stay on the calling thread).
   *
   * @throws IllegalArgumentException if {@code threads < 1}
   */
  public VecnormBatchNormHelper(org.deeplearning4j.nn.conf.layers.BatchNormalization conf, int threads) {
    this(conf.isLockGammaBeta(), conf.getGamma(), conf.getBeta(), SegmentKernels.forThreads(checkThreads(threads)));
  }

  /** For tests: a layer with learned gamma and beta on the given kernels. */
  VecnormBatchNormHelper(SegmentKernels kernels) {
    this(false, 1.0, 0.0, kernels);
  }

  private VecnormBatchNormHelper(boolean lockGammaBeta, double gamma, double beta, SegmentKernels kernels) {
    this.lockGammaBeta = lockGammaBeta;
    this.lockedGamma = (float) gamma;
    this.lockedBeta = (float) beta;
    this.kernels = kernels;
  }

  static int checkThreads(int threads) {
    if (threads < 1) throw new IllegalArgumentException("threads must be at least 1, got " + threads);
    return threads;
  }

  /** How many threads one call of this helper may use (1: vecnorm's single-threaded kernels). */
  public int threads() {
    return kernels.threads();
  }

  @Override
  public boolean checkSupported() {
    return true;
  }

  @Override
  public boolean checkSupported(double eps, boolean fixedGammaBeta) {
    return eps > 0 && Double.isFinite(eps);
  }

  @Override
  public INDArray preOutput(INDArray x, boolean training, long[] shape, INDArray gamma, INDArray beta, INDArray mean,
                            INDArray var, double decay, double eps, CNN2DFormat format, LayerWorkspaceMgr workspaceMgr) {
    if (x.dataType() != DataType.FLOAT) return null;
    NormShape s = normShape(x, shape, format);
    if (s == null) return null;
    MemorySegment xs = NdSegments.denseFloats(x);
    if (xs == null) return null;
    if (!perChannelFits(gamma, s) || !perChannelFits(beta, s)) return null;
    if (!training && (mean == null || var == null || !perChannelFits(mean, s) || !perChannelFits(var, s))) return null;
    ensureChannels(s.channels());
    float[] g = perChannel(gamma, lockedGamma, this.gamma);
    float[] b = perChannel(beta, lockedBeta, this.beta);

    INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, DataType.FLOAT, x.shape(), 'c');
    MemorySegment ys = NdSegments.denseFloats(out);
    if (training) {
      kernels.forwardTraining(s, xs, g, b, (float) eps, ys, batchMean, batchVariance, invStd);
      statisticsValid = true;
      statisticsAddress = xs.address();
      statisticsShape = s;
    } else {
      NdSegments.toFloats(mean, movingMean);
      NdSegments.toFloats(var, movingVariance);
      kernels.forwardInference(s, xs, g, b, movingMean, movingVariance, (float) eps, ys);
    }
    return out;
  }

  @Override
  public Pair<Gradient, INDArray> backpropGradient(INDArray input, INDArray epsilon, long[] shape, INDArray gamma,
                                                   INDArray beta, INDArray dGammaView, INDArray dBetaView, double eps,
                                                   CNN2DFormat format, LayerWorkspaceMgr workspaceMgr) {
    if (input.dataType() != DataType.FLOAT || epsilon.dataType() != DataType.FLOAT) return null;
    if (!Arrays.equals(input.shape(), epsilon.shape())) return null;
    NormShape s = normShape(input, shape, format);
    if (s == null) return null;
    // An input that is not dense means DL4J's own forward ran (ours returned null): let its backward run too,
    // it holds the matching xHat.
    MemorySegment xs = NdSegments.denseFloats(input);
    if (xs == null) return null;
    MemorySegment dys = NdSegments.denseFloats(epsilon);
    if (dys == null) {
      // The gradient from the next layer may be any order; one copy is cheaper than DL4J's path.
      epsilon = epsilon.dup('c');
      dys = NdSegments.denseFloats(epsilon);
    }
    if (!perChannelFits(gamma, s)) return null;
    ensureChannels(s.channels());
    if (!statisticsValid || statisticsAddress != xs.address() || !s.equals(statisticsShape)) {
      recomputeStatistics(s, xs, (float) eps);
    }
    float[] g = perChannel(gamma, lockedGamma, this.gamma);

    INDArray dx = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, DataType.FLOAT, input.shape(), 'c');
    kernels.backward(s, xs, dys, g, batchMean, invStd, NdSegments.denseFloats(dx), dGamma, dBeta);
    NdSegments.write(dGamma, dGammaView);
    NdSegments.write(dBeta, dBetaView);

    Gradient gradient = new DefaultGradient();
    gradient.setGradientFor(BatchNormalizationParamInitializer.GAMMA, dGammaView);
    gradient.setGradientFor(BatchNormalizationParamInitializer.BETA, dBetaView);
    return new Pair<>(gradient, dx);
  }

  /** The last training batch's per-channel mean, rank 1 {@code [C]}, outside any workspace; null before any. */
  @Override
  public INDArray getMeanCache(DataType dataType) {
    return statisticsValid ? detached(batchMean, dataType) : null;
  }

  /** The last training batch's biased per-channel variance (no {@code eps}), as DL4J's {@code var(false, dims)}. */
  @Override
  public INDArray getVarCache(DataType dataType) {
    return statisticsValid ? detached(batchVariance, dataType) : null;
  }

  @Override
  public Map<String, Long> helperMemoryUse() {
    return Map.of("vecnormPerChannelBuffers", channels < 0 ? 0L : 9L * channels * Float.BYTES);
  }

  /**
   * The kernel's view of a rank-4 tensor: NCHW is {@code [N, C, H*W]}, NHWC is {@code [N*H*W, C, 1]}, and a
   * rank-2 input reshaped to rank 4 against the format (DL4J's forward always reshapes to {@code [N, C, 1, 1]})
   * is {@code [N, C]} rows. {@code shape} is DL4J's {@code getShape(x) = [1, C]}. Null when nothing fits.
   */
  static NormShape normShape(INDArray x, long[] shape, CNN2DFormat format) {
    if (x.rank() != 4) return null;
    long n = x.size(0), d1 = x.size(1), d2 = x.size(2), d3 = x.size(3);
    boolean nhwc = format == CNN2DFormat.NHWC;
    long c = shape != null && shape.length == 2 ? shape[1] : (nhwc ? d3 : d1);
    long outer, inner;
    if (!nhwc && d1 == c) {
      outer = n;
      inner = d2 * d3;
    } else if (nhwc && d3 == c) {
      outer = n * d1 * d2;
      inner = 1;
    } else if (d1 * d2 * d3 == c) {
      outer = n;
      inner = 1;
    } else {
      return null;
    }
    if (outer < 1 || inner < 1 || c < 1 || outer > Integer.MAX_VALUE || inner > Integer.MAX_VALUE || c > Integer.MAX_VALUE) {
      return null;
    }
    return new NormShape((int) outer, (int) c, (int) inner);
  }

  /** Backward without our forward before it (DL4J's forward ran, or another input): batch statistics from x. */
  private void recomputeStatistics(NormShape s, MemorySegment xs, float eps) {
    Moments m = new Moments(s.channels());
    kernels.moments(s, xs, m);
    double count = m.count();
    for (int c = 0; c < s.channels(); c++) {
      double variance = m.m2(c) / count;
      batchMean[c] = (float) m.mean(c);
      batchVariance[c] = (float) variance;
      invStd[c] = (float) (1.0 / Math.sqrt(variance + eps));
    }
    statisticsValid = true;
    statisticsAddress = xs.address();
    statisticsShape = s;
  }

  /** Null (absent) or one value per channel, in a type this helper reads. */
  private static boolean perChannelFits(INDArray values, NormShape s) {
    return values == null || values.length() == s.channels() && values.dataType() == DataType.FLOAT;
  }

  private float[] perChannel(INDArray values, float locked, float[] buffer) {
    if (values != null) return NdSegments.toFloats(values, buffer);
    if (lockGammaBeta) {
      Arrays.fill(buffer, locked);
      return buffer;
    }
    return null; // vecnorm: null gamma is 1, null beta is 0
  }

  private void ensureChannels(int c) {
    if (c == channels) return;
    channels = c;
    gamma = new float[c];
    beta = new float[c];
    movingMean = new float[c];
    movingVariance = new float[c];
    batchMean = new float[c];
    batchVariance = new float[c];
    invStd = new float[c];
    dGamma = new float[c];
    dBeta = new float[c];
    statisticsValid = false;
  }

  private static INDArray detached(float[] values, DataType dataType) {
    // Outside workspaces: DL4J keeps these past the scope of the current one.
    try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
      return Nd4j.createFromArray(values.clone()).castTo(dataType);
    }
  }
}
