package dev.vecnorm.layers;

import dev.vecnorm.BatchNorm;
import dev.vecnorm.BatchNormRelu;
import dev.vecnorm.Moments;
import dev.vecnorm.MovingVariance;
import dev.vecnorm.NormShape;
import dev.vecnorm.ParallelBatchNorm;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Keras's {@code BatchNormalization} on the vecnorm kernels.
 *
 * <p>Defaults as Keras 3: {@code axis=-1, momentum=0.99, epsilon=1e-3, center=true, scale=true},
 * beta zeros, gamma ones, moving mean zeros, moving variance ones, no regularizers or constraints,
 * no renormalization, not synchronized.
 *
 * <ul>
 *   <li>Training ({@code call(x, true)} on a trainable layer): {@code mean}, biased {@code var} of the
 *       batch per channel; {@code y = gamma * (x - mean) / sqrt(var + epsilon) + beta}; then
 *       {@code moving_mean = moving_mean * momentum + mean * (1 - momentum)}, likewise
 *       {@code moving_variance} with the biased batch variance (or the unbiased one with
 *       {@link Builder#movingVariance(MovingVariance) movingVariance(UNBIASED)}, as PyTorch).</li>
 *   <li>Inference ({@code training=false}): the same formula with the moving statistics.</li>
 *   <li>{@code setTrainable(false)} puts the layer in inference mode <em>even when called with
 *       training=true</em>, and nothing is updated: the Keras >= 2.1 behaviour for fine-tuning, which
 *       surprises many users.</li>
 *   <li>Mask (rank = input rank - 1, the input shape without the channel axis, true = keep): statistics
 *       over unmasked positions only; every position is normalized; a mask that keeps nothing leaves
 *       the moving statistics unchanged (and normalizes with mean 0, variance 0, as Keras computes).
 *       Keras 3 differs there: it moves the moving statistics toward mean 0 and variance 0
 *       ({@code *= momentum}), which an empty batch says nothing about, and a run of padding-only batches
 *       drives the moving variance toward 0, so {@code 1/sqrt(var + eps)} blows up at inference.</li>
 *   <li>Batch renormalization (Ioffe 2017, Keras's {@code renorm=True}): {@code r = clip(std / renormStd,
 *       rmin, rmax)}, {@code d = clip((mean - renormMean) / renormStd, -dmax, dmax)}, no gradient through
 *       r and d, {@code y = gamma * (r * xhat + d) + beta}; renorm mean and stddev move with
 *       {@code renormMomentum}.</li>
 *   <li>Synchronized: batch statistics and backward sums go through a {@link StatisticsReducer}. Each
 *       replica's gamma/beta gradients are its local contribution; sum them across replicas, as
 *       data-parallel training does with every other gradient.</li>
 *   <li>Ghost batch norm (tf.keras 2's {@code virtual_batch_size}, {@link Builder#virtualBatchSize}): see
 *       {@link #virtualBatchSize()}.</li>
 * </ul>
 */
public final class BatchNormalization extends AffineNormalization {

  private final int axis;
  /** As configured (0.99 stays 0.99 in the config); the kernels take float momenta. */
  private final double momentum;
  private final Initializer movingMeanInitializer, movingVarianceInitializer;
  private final boolean renorm;
  private final Double rmax, rmin, dmax;
  private final double renormMomentum;
  private final boolean isSynchronized;
  private final MovingVariance movingVarianceMode;
  private final boolean relu;
  private final ParallelBatchNorm parallel;
  private StatisticsReducer reducer;
  /** tf.keras 2's {@code virtual_batch_size}, or null for whole-batch statistics. */
  private final Integer virtualBatchSize;
  private final GhostBatches ghost;

  private int channels = -1;
  private Parameter movingMean, movingVariance, renormMean, renormStddev;

  // Cached by the last call for backward.
  private Tensor lastInput;
  private float[] lastOutput;
  private NormShape lastShape;
  private boolean lastUsedBatchStatistics;
  /** The last call was {@link #callAddRelu}: only {@link #backwardAddRelu} may follow. */
  private boolean lastAddRelu;
  private boolean[] lastMask;
  private long lastCount;
  private float[] mean, variance, invStd, effGamma, renormR, renormD, sumDy, sumDyXhat;
  private Moments localMoments;

  private BatchNormalization(Builder b) {
    super(b);
    this.axis = b.axis;
    this.momentum = b.momentum;
    this.movingMeanInitializer = b.movingMeanInitializer;
    this.movingVarianceInitializer = b.movingVarianceInitializer;
    this.renorm = b.renorm;
    this.rmax = b.rmax;
    this.rmin = b.rmin;
    this.dmax = b.dmax;
    this.renormMomentum = b.renormMomentum;
    this.isSynchronized = b.isSynchronized;
    this.movingVarianceMode = b.movingVarianceMode;
    this.relu = b.relu;
    this.parallel = b.parallel;
    this.reducer = b.reducer;
    this.virtualBatchSize = b.virtualBatchSize;
    this.ghost = b.virtualBatchSize == null ? null : new GhostBatches(b.virtualBatchSize);
  }

  /**
   * A builder with Keras's defaults.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * A layer with every Keras default.
   *
   * @return a new, unbuilt layer
   */
  public static BatchNormalization create() {
    return builder().build();
  }

  /** Builder with Keras's argument names and defaults; {@link #build()} validates. */
  public static final class Builder extends AffineBuilder<Builder> {
    private static int counter;
    private int axis = -1;
    private double momentum = 0.99;
    private Initializer movingMeanInitializer = Initializer.zeros(), movingVarianceInitializer = Initializer.ones();
    private boolean renorm;
    private Double rmax, rmin, dmax;
    private double renormMomentum = 0.99;
    private boolean isSynchronized;
    private MovingVariance movingVarianceMode = MovingVariance.BIASED;
    private StatisticsReducer reducer;
    private boolean relu;
    private ParallelBatchNorm parallel;
    private Integer virtualBatchSize;

    private Builder() {}

    @Override
    Builder self() { return this; }

    /**
     * Keras's {@code axis}, the channel axis
     *
     * @param axis the axis of the input, negative counts from the end; default -1
     * @return this builder
     */
    public Builder axis(int axis) { this.axis = axis; return this; }
    /**
     * Keras's {@code momentum} of the moving statistics
     *
     * @param momentum in [0, 1]; default 0.99
     * @return this builder
     */
    public Builder momentum(double momentum) { this.momentum = momentum; return this; }
    /**
     * Keras's {@code moving_mean_initializer}
     *
     * @param i not null; default zeros
     * @return this builder
     */
    public Builder movingMeanInitializer(Initializer i) { this.movingMeanInitializer = Objects.requireNonNull(i, "movingMeanInitializer"); return this; }
    /**
     * Keras's {@code moving_variance_initializer}
     *
     * @param i not null; default ones
     * @return this builder
     */
    public Builder movingVarianceInitializer(Initializer i) { this.movingVarianceInitializer = Objects.requireNonNull(i, "movingVarianceInitializer"); return this; }
    /**
     * Keras's {@code renorm} (batch renormalization)
     *
     * @param renorm true to use batch renormalization; default false
     * @return this builder
     */
    public Builder renorm(boolean renorm) { this.renorm = renorm; return this; }
    /**
     * Keras's {@code renorm_clipping={'rmax':..,'rmin':..,'dmax':..}}; null leaves that bound off.
     *
     * @param rmax upper bound of {@code r}, at least 1, or null for none
     * @param rmin lower bound of {@code r}, in (0, 1], or null for none
     * @param dmax bound of {@code |d|}, at least 0, or null for none
     * @return this builder
     */
    public Builder renormClipping(Double rmax, Double rmin, Double dmax) { this.rmax = rmax; this.rmin = rmin; this.dmax = dmax; return this; }
    /**
     * Keras's {@code renorm_momentum}
     *
     * @param m in [0, 1]; default 0.99
     * @return this builder
     */
    public Builder renormMomentum(double m) { this.renormMomentum = m; return this; }
    /**
     * Keras's {@code synchronized=True}; the layer needs a reducer before its first training call.
     *
     * @param reducer this replica's reducer; not null
     * @return this builder
     */
    public Builder synchronizedWith(StatisticsReducer reducer) { this.isSynchronized = true; this.reducer = Objects.requireNonNull(reducer, "reducer"); return this; }
    /**
     * Keras's {@code synchronized}; a synchronized layer needs {@link BatchNormalization#setStatisticsReducer} before training
     *
     * @param s true for cross-replica statistics; default false
     * @return this builder
     */
    public Builder isSynchronized(boolean s) { this.isSynchronized = s; return this; }
    /**
     * vecnorm extension: which batch variance feeds the moving variance (Keras: biased)
     *
     * @param mode not null; default {@link MovingVariance#BIASED}
     * @return this builder
     */
    public Builder movingVariance(MovingVariance mode) { this.movingVarianceMode = Objects.requireNonNull(mode, "movingVariance"); return this; }
    /**
     * Runs this layer's kernels on {@code parallel}'s threads (training and inference forward, backward;
     * results do not depend on the thread count). Not part of the config: set it again after fromConfig.
     *
     * @param parallel the thread pool to run on, or null to run on the caller's thread
     * @return this builder
     */
    public Builder parallel(ParallelBatchNorm parallel) { this.parallel = parallel; return this; }
    /**
     * vecnorm extension: {@code "relu"} fuses a ReLU after the normalization (one pass forward and
     * backward, see {@link dev.vecnorm.BatchNormRelu}); {@code "linear"} (default) is plain Keras.
     *
     * @param activation {@code "relu"} or {@code "linear"}
     * @return {@code "relu"} or {@code "linear"}
     */
    public Builder activation(String activation) {
      this.relu = switch (activation) {
        case "relu" -> true;
        case "linear" -> false;
        default -> throw new IllegalArgumentException("activation must be \"relu\" or \"linear\", got " + activation);
      };
      return this;
    }

    /**
     * tf.keras 2's {@code virtual_batch_size} (ghost batch norm): in training, statistics per virtual
     * batch of this many samples, grouped as tf.keras 2 groups them (see
     * {@link BatchNormalization#virtualBatchSize()}). Keras 3 has no such argument.
     *
     * @param virtualBatchSize at least 1, or null (default) for statistics over the whole batch
     * @return this builder
     */
    public Builder virtualBatchSize(Integer virtualBatchSize) { this.virtualBatchSize = virtualBatchSize; return this; }

    /**
     * Validates every argument and builds the layer (its weights are created on the first build or call).
     *
     * @return the layer
     * @throws IllegalArgumentException naming the first invalid argument
     */
    public BatchNormalization build() {
      if (!(momentum >= 0 && momentum <= 1)) throw new IllegalArgumentException("momentum must be in [0, 1], got " + momentum);
      checkOptions();
      if (!(renormMomentum >= 0 && renormMomentum <= 1)) {
        throw new IllegalArgumentException("renormMomentum must be in [0, 1], got " + renormMomentum);
      }
      if (rmax != null && !(rmax >= 1)) throw new IllegalArgumentException("renormClipping rmax must be >= 1, got " + rmax);
      if (rmin != null && !(rmin > 0 && rmin <= 1)) throw new IllegalArgumentException("renormClipping rmin must be in (0, 1], got " + rmin);
      if (dmax != null && !(dmax >= 0)) throw new IllegalArgumentException("renormClipping dmax must be >= 0, got " + dmax);
      if (virtualBatchSize != null) {
        if (virtualBatchSize < 1) throw new IllegalArgumentException("virtualBatchSize must be a positive integer or null, got " + virtualBatchSize);
        // tf.keras 2 takes renorm with virtual batches (r and d from the averaged statistics); not built here.
        if (renorm) throw new IllegalArgumentException("virtualBatchSize is not supported together with renorm=true");
        if (isSynchronized) throw new IllegalArgumentException("virtualBatchSize is not supported together with synchronized=true");
      }
      if (name == null) name = "batch_normalization" + (counter++ == 0 ? "" : "_" + (counter - 1));
      return new BatchNormalization(this);
    }
  }

  /**
   * For layers built from a config: attach the reducer of this replica.
   *
   * @param reducer this replica's reducer, or null for a layer that is not synchronized
   */
  public void setStatisticsReducer(StatisticsReducer reducer) {
    this.reducer = reducer;
  }

  /**
   * The normalized axis as configured (negative counts from the end); same as {@link #axisConfig()}.
   *
   * @return the axis
   */
  public int axis() {
    return axis;
  }

  /**
   * The momentum as configured (a double: 0.99 is written back as 0.99).
   *
   * @return the momentum
   */
  public double momentum() {
    return momentum;
  }

  /**
   * The normalized axis as configured (negative counts from the end).
   *
   * @return the axis
   */
  public int axisConfig() {
    return axis;
  }

  /**
   * {@code "relu"} when a ReLU is fused after the normalization, else {@code "linear"}.
   *
   * @return {@code "relu"} or {@code "linear"}
   */
  public String activation() {
    return relu ? "relu" : "linear";
  }

  /**
   * tf.keras 2's {@code virtual_batch_size} (ghost batch norm), or null when statistics cover the whole
   * batch. With a virtual batch size {@code v}, a training batch of {@code B} samples (B a positive
   * multiple of v, else {@code IllegalArgumentException} before anything changes) is split into
   * {@code B / v} virtual batches as tf.keras 2 splits it: its reshape to {@code [v, B / v, ...]} puts
   * sample {@code b} in virtual batch {@code b % (B / v)}, so virtual batch {@code j} is samples
   * {@code j, j + B/v, j + 2B/v, ...} (interleaved, not contiguous). Each virtual batch is normalized
   * with its own mean and biased variance (shared gamma and beta), and backward is the batch-norm
   * backward of each virtual batch. The moving mean moves toward the mean of the virtual batches' means
   * (the batch mean), the moving variance toward the mean of their biased variances (not the batch
   * variance: the spread between virtual-batch means is left out, as tf.keras 2 does), once per call.
   * Inference uses the moving statistics and takes any batch size (as the later tf.keras 2 releases do).
   * Not combined with masks, renorm or synchronized; the fused ReLU runs unfused; with channels on axis
   * 2 or later and more than one virtual batch, the layer's {@link ParallelBatchNorm} is not used.
   *
   * @return the virtual batch size, or null
   */
  public Integer virtualBatchSize() {
    return virtualBatchSize;
  }

  /**
   * Size of the normalized axis.
   *
   * @return the channel count, 0 before build
   */
  public int channels() {
    return channels;
  }

  @Override
  protected void doBuild(int[] inputShape) {
    NormShape s = shapeOf(inputShape);
    channels = s.channels();
    int C = channels;
    buildAffine(C, affine.scale(), affine.center());
    movingMean = param("moving_mean", C, movingMeanInitializer);
    movingVariance = param("moving_variance", C, movingVarianceInitializer);
    if (renorm) {
      renormMean = param("renorm_mean", C, Initializer.zeros());
      renormStddev = param("renorm_stddev", C, Initializer.ones());
    }
    mean = new float[C];
    variance = new float[C];
    invStd = new float[C];
    effGamma = new float[C];
    renormR = new float[C];
    renormD = new float[C];
    sumDy = new float[C];
    sumDyXhat = new float[C];
    localMoments = new Moments(C);
  }

  /** A statistic: not trained, regularized or constrained. */
  private static Parameter param(String name, int n, Initializer init) {
    return AffineOptions.weight(name, n, init, false, null, null);
  }

  private NormShape shapeOf(int[] inputShape) {
    int rank = inputShape.length;
    if (rank < 1) throw new IllegalArgumentException(name() + ": input must have rank >= 1");
    if (axis < -rank || axis >= rank) {
      throw new IllegalArgumentException(name() + ": axis " + axis + " is out of range for input rank " + rank + " " + Arrays.toString(inputShape));
    }
    if (ghost != null && (axis == 0 || axis == -rank)) {
      // As tf.keras 2: virtual batches split axis 0, which therefore cannot be the normalized axis.
      throw new IllegalArgumentException(name() + ": with virtualBatchSize the batch dimension is axis 0, so axis cannot be 0 (got axis="
          + axis + " for input " + Arrays.toString(inputShape) + ")");
    }
    return NormShape.of(inputShape, axis);
  }

  @Override
  protected void checkBuildable(int[] inputShape) {
    // Weights, gradients and per-channel scratch: about 20 arrays of one float per channel.
    int c = shapeOf(inputShape).channels();
    checkAllocation(c + " channels", c, 20);
  }

  @Override
  protected void checkCompatible(int[] inputShape) {
    int rank = inputShape.length;
    checkBuiltRank(inputShape);
    if (axis < -rank || axis >= rank) {
      throw new IllegalArgumentException(name() + ": axis " + axis + " is out of range for input rank " + rank);
    }
    int c = inputShape[axis < 0 ? axis + rank : axis];
    if (c != channels) {
      throw new IllegalArgumentException(name() + " was built for " + channels + " channels on axis " + axis
          + ", but the input " + Arrays.toString(inputShape) + " has " + c);
    }
  }

  @Override
  public List<Parameter> parameters() {
    List<Parameter> p = super.parameters();
    if (movingMean != null) p.add(movingMean);
    if (movingVariance != null) p.add(movingVariance);
    if (renormMean != null) p.add(renormMean);
    if (renormStddev != null) p.add(renormStddev);
    return p;
  }

  /**
   * The live moving mean.
   *
   * @return {@code float[channels]}, or null before build
   */
  public float[] movingMean() { return movingMean == null ? null : movingMean.value(); }
  /**
   * The live moving variance.
   *
   * @return {@code float[channels]}, or null before build
   */
  public float[] movingVariance() { return movingVariance == null ? null : movingVariance.value(); }

  @Override
  protected Tensor forward(Tensor input, boolean training) {
    return forward(input, training, null);
  }

  /**
   * {@code call(input, training, mask)}: see the class comment for mask semantics.
   *
   * @param input the input batch; not null
   * @param training true for batch statistics (and a moving-statistic update), false for the moving ones
   * @param mask one flag per position of the input without the channel axis, row-major (true: the
   *     position counts in the batch statistics), or null to count every position
   * @return the normalized batch
   */
  public Tensor call(Tensor input, boolean training, boolean[] mask) {
    Objects.requireNonNull(input, "input");
    if (mask == null) return call(input, training);
    build(input.shape());
    return forward(input, training, mask);
  }

  private Tensor forward(Tensor input, boolean training, boolean[] mask) {
    NormShape s = shapeOf(input.shape());
    checkCompatible(input.shape());
    boolean useBatch = training && trainable;
    if (mask != null && mask.length != s.countPerChannel()) {
      throw new IllegalArgumentException(name() + ": mask must have " + s.countPerChannel()
          + " elements (the input shape without axis " + axis + "), got " + mask.length);
    }
    if (useBatch && isSynchronized && reducer == null) {
      throw new IllegalStateException(name() + " is synchronized but has no StatisticsReducer; call setStatisticsReducer first");
    }
    if (useBatch && isSynchronized && mask != null) {
      throw new IllegalArgumentException(name() + ": masks are not supported with synchronized=true");
    }
    if (useBatch && ghost != null) {
      if (mask != null) throw new IllegalArgumentException(name() + ": masks are not supported with virtualBatchSize");
      ghost.checkBatch(name(), input.shape());
    }
    float[] x = input.data();
    float[] y = new float[x.length];
    float[] g = gamma(), b = beta();
    lastInput = input;
    lastShape = s;
    lastAddRelu = false;
    lastMask = useBatch ? mask : null;
    lastUsedBatchStatistics = useBatch;
    if (!useBatch) {
      float[] mm = movingMean.value(), mv = movingVariance.value();
      if (parallel != null && relu) parallel.forwardInferenceRelu(s, x, 0, null, 0, g, b, mm, mv, epsilonF, y, 0);
      else if (parallel != null) parallel.forwardInference(s, x, 0, g, b, mm, mv, epsilonF, y, 0);
      else if (relu) BatchNormRelu.forwardInference(s, x, 0, null, 0, g, b, mm, mv, epsilonF, y, 0);
      else BatchNorm.forwardInference(s, x, 0, g, b, mm, mv, epsilonF, y, 0);
      lastOutput = y;
      return new Tensor(input.shape(), y);
    }
    if (ghost != null) {
      lastCount = ghost.forward(input.shape(), s, x, g, b, epsilonF, parallel, y, mean, variance);
      effectiveGamma(g);
      if (relu) for (int i = 0; i < y.length; i++) y[i] = Math.max(y[i], 0f); // unfused, as masked and synchronized
      updateMovingStatistics();
      lastOutput = y;
      return new Tensor(input.shape(), y);
    }
    if (mask != null) {
      lastCount = maskedMoments(s, x, mask);
    } else if (isSynchronized) {
      BatchNorm.moments(s, x, 0, localMoments);
      Moments global = reducer.allGatherMoments(localMoments);
      global.meanTo(mean);
      global.varianceTo(variance);
      global.invStdTo(epsilonF, invStd);
      lastCount = global.count();
    } else if (!renorm) {
      if (parallel != null && relu) parallel.forwardTrainingRelu(s, x, 0, null, 0, g, b, epsilonF, y, 0, mean, variance, invStd);
      else if (parallel != null) parallel.forwardTraining(s, x, 0, g, b, epsilonF, y, 0, mean, variance, invStd);
      else if (relu) BatchNormRelu.forwardTraining(s, x, 0, null, 0, g, b, epsilonF, y, 0, mean, variance, invStd);
      else BatchNorm.forwardTraining(s, x, 0, g, b, epsilonF, y, 0, mean, variance, invStd);
      lastCount = s.countPerChannel();
      effectiveGamma(g);
      updateMovingStatistics();
      lastOutput = y;
      return new Tensor(input.shape(), y);
    } else {
      BatchNorm.moments(s, x, 0, localMoments);
      localMoments.meanTo(mean);
      localMoments.varianceTo(variance);
      localMoments.invStdTo(epsilonF, invStd);
      lastCount = s.countPerChannel();
    }
    float[] shift = renorm ? renormCorrection(g, b) : b;
    effectiveGamma(g);
    BatchNorm.normalize(s, x, 0, mean, invStd, effGamma, shift, y, 0);
    if (relu) for (int i = 0; i < y.length; i++) y[i] = Math.max(y[i], 0f); // masked, synchronized, renorm: unfused
    if (lastCount > 0) updateMovingStatistics();
    lastOutput = y;
    return new Tensor(input.shape(), y);
  }

  /** gamma (or 1) times renorm's r: the per-channel scale the normalization and its gradient use. */
  private void effectiveGamma(float[] g) {
    for (int c = 0; c < channels; c++) effGamma[c] = (g == null ? 1f : g[c]) * (renorm && lastUsedBatchStatistics ? renormR[c] : 1f);
  }

  /** r, d from the batch and the renorm statistics (then moved with renormMomentum); returns the shift beta + gamma*d. */
  private float[] renormCorrection(float[] g, float[] b) {
    float[] shift = new float[channels];
    float[] rm = renormMean.value(), rs = renormStddev.value();
    float floor = (float) Math.sqrt(epsilonF);
    for (int c = 0; c < channels; c++) {
      double std = Math.sqrt((double) variance[c] + epsilonF);
      double renormStd = Math.max(rs[c], floor);
      double r = std / renormStd, d = (mean[c] - rm[c]) / renormStd;
      if (rmax != null) r = Math.min(r, rmax);
      if (rmin != null) r = Math.max(r, rmin);
      if (dmax != null) d = Math.max(-dmax, Math.min(d, dmax));
      renormR[c] = (float) r;
      renormD[c] = (float) d;
      shift[c] = (b == null ? 0f : b[c]) + (g == null ? 1f : g[c]) * renormD[c];
      float rmom = (float) renormMomentum;
      rm[c] = rm[c] * rmom + mean[c] * (1 - rmom);
      rs[c] = (float) (rs[c] * rmom + std * (1 - rmom));
    }
    return shift;
  }

  private void updateMovingStatistics() {
    if (movingVarianceMode == MovingVariance.UNBIASED && lastCount >= 2) {
      BatchNorm.updateMovingStatistics((float) momentum, mean, variance, movingMean.value(), movingVariance.value(), lastCount,
          MovingVariance.UNBIASED);
    } else {
      BatchNorm.updateMovingStatistics((float) momentum, mean, variance, movingMean.value(), movingVariance.value());
    }
  }

  /** Mean and biased variance over unmasked positions, two-pass in double; returns the count per channel. */
  private long maskedMoments(NormShape s, float[] x, boolean[] mask) {
    long count = 0;
    for (boolean keep : mask) if (keep) count++;
    for (int c = 0; c < channels; c++) {
      double sum = 0;
      for (int o = 0; o < s.outer(); o++) {
        for (int i = 0; i < s.inner(); i++) if (mask[o * s.inner() + i]) sum += x[(o * channels + c) * s.inner() + i];
      }
      double m = count == 0 ? 0 : sum / count, sq = 0;
      for (int o = 0; o < s.outer(); o++) {
        for (int i = 0; i < s.inner(); i++) {
          if (mask[o * s.inner() + i]) {
            double d = x[(o * channels + c) * s.inner() + i] - m;
            sq += d * d;
          }
        }
      }
      mean[c] = (float) m;
      variance[c] = count == 0 ? 0f : (float) (sq / count);
      invStd[c] = (float) (1 / Math.sqrt(variance[c] + (double) epsilonF));
    }
    return count;
  }

  /**
   * Whether {@link #callAddRelu} can run this layer: no fused ReLU of its own, no renormalization, not
   * synchronized, no virtual batches (the fused kernel takes plain batch statistics).
   *
   * @return whether {@link #callAddRelu} may be used
   */
  public boolean fusesAddRelu() {
    return !relu && !renorm && !isSynchronized && ghost == null;
  }

  /**
   * The ResNet block tail in one pass, {@code y = max(0, BN(x) + residual)}, on
   * {@link BatchNormRelu}'s fused kernels (Keras's {@code ReLU()(Add()([BatchNormalization()(x), residual]))}):
   * the same statistics, moving-statistic update and outputs as the three layers, one pass over memory
   * instead of three. The gradients come from {@link #backwardAddRelu(Tensor)}.
   *
   * @param input the batch to normalize; not null
   * @param residual added after the normalization, of the input's shape; not null
   * @param training true for batch statistics (and a moving-statistic update), false for the moving ones
   * @return {@code max(0, BN(input) + residual)}
   */
  public Tensor callAddRelu(Tensor input, Tensor residual, boolean training) {
    Objects.requireNonNull(input, "input");
    Objects.requireNonNull(residual, "residual");
    if (!fusesAddRelu()) throw new IllegalStateException(name() + ": callAddRelu needs a layer without fused ReLU, renorm, synchronization or virtualBatchSize");
    if (!Arrays.equals(input.shape(), residual.shape())) {
      throw new IllegalArgumentException(name() + ": residual must have the input's shape " + Arrays.toString(input.shape()) + ", got "
          + Arrays.toString(residual.shape()));
    }
    build(input.shape());
    NormShape s = shapeOf(input.shape());
    boolean useBatch = training && trainable;
    float[] x = input.data(), r = residual.data(), y = new float[x.length];
    float[] g = gamma(), b = beta();
    lastInput = input;
    lastShape = s;
    lastMask = null;
    lastUsedBatchStatistics = useBatch;
    lastAddRelu = true;
    if (!useBatch) {
      float[] mm = movingMean.value(), mv = movingVariance.value();
      if (parallel != null) parallel.forwardInferenceRelu(s, x, 0, r, 0, g, b, mm, mv, epsilonF, y, 0);
      else BatchNormRelu.forwardInference(s, x, 0, r, 0, g, b, mm, mv, epsilonF, y, 0);
    } else {
      if (parallel != null) parallel.forwardTrainingRelu(s, x, 0, r, 0, g, b, epsilonF, y, 0, mean, variance, invStd);
      else BatchNormRelu.forwardTraining(s, x, 0, r, 0, g, b, epsilonF, y, 0, mean, variance, invStd);
      lastCount = s.countPerChannel();
      effectiveGamma(g);
      updateMovingStatistics();
    }
    lastOutput = y;
    return new Tensor(input.shape(), y);
  }

  /**
   * Gradients of the last {@link #callAddRelu}: {@code {dx, dResidual}}; gamma and beta gradients are added.
   *
   * @param gradOutput gradient of the loss with respect to the last output, of that output's shape
   * @return {@code {dx, dResidual}}, each of the input's shape
   */
  public Tensor[] backwardAddRelu(Tensor gradOutput) {
    checkGradient(lastInput == null || !lastAddRelu ? null : lastInput.shape(), gradOutput);
    float[] x = lastInput.data(), dy = gradOutput.data(), dx = new float[x.length], dRes = new float[x.length];
    if (lastUsedBatchStatistics) {
      if (parallel != null) parallel.backwardRelu(lastShape, x, 0, lastOutput, 0, dy, 0, effGamma, mean, invStd, dx, 0, dRes, 0, sumDyXhat, sumDy);
      else BatchNormRelu.backward(lastShape, x, 0, lastOutput, 0, dy, 0, effGamma, mean, invStd, dx, 0, dRes, 0, sumDyXhat, sumDy);
      if (trainable) accumulateParameterGradients();
      return new Tensor[] {new Tensor(lastInput.shape(), dx), new Tensor(lastInput.shape(), dRes)};
    }
    // Inference statistics: the ReLU's mask, then the plain inference backward.
    for (int i = 0; i < dy.length; i++) dRes[i] = lastOutput[i] > 0 ? dy[i] : 0f;
    lastAddRelu = false;
    try {
      return new Tensor[] {backward(new Tensor(lastInput.shape(), dRes.clone())), new Tensor(lastInput.shape(), dRes)};
    } finally {
      lastAddRelu = true;
    }
  }

  @Override
  public Tensor backward(Tensor gradOutput) {
    if (lastAddRelu) throw new IllegalStateException(name() + ": the last call was callAddRelu; use backwardAddRelu");
    checkGradient(lastInput == null ? null : lastInput.shape(), gradOutput);
    NormShape s = lastShape;
    float[] x = lastInput.data(), dy = gradOutput.data(), dx = new float[x.length];
    boolean fusedPath = relu && lastUsedBatchStatistics && lastMask == null && !isSynchronized && !renorm && ghost == null;
    if (relu && !fusedPath) {
      float[] masked = new float[dy.length];
      for (int i = 0; i < dy.length; i++) masked[i] = lastOutput[i] > 0 ? dy[i] : 0f;
      dy = masked;
    }
    if (fusedPath && parallel != null) {
      parallel.backwardRelu(s, x, 0, lastOutput, 0, dy, 0, effGamma, mean, invStd, dx, 0, null, 0, sumDyXhat, sumDy);
    } else if (fusedPath) {
      BatchNormRelu.backward(s, x, 0, lastOutput, 0, dy, 0, effGamma, mean, invStd, dx, 0, null, 0, sumDyXhat, sumDy);
    } else if (!lastUsedBatchStatistics) {
      // Inference mode: statistics are constants, dx = dy * gamma / sqrt(movingVariance + eps).
      for (int c = 0; c < channels; c++) invStd[c] = (float) (1 / Math.sqrt((double) movingVariance.value()[c] + epsilonF));
      BatchNorm.forwardInference(s, dy, 0, gamma(), null, new float[channels],
          movingVariance.value(), epsilonF, dx, 0);
      BatchNorm.backwardReduce(s, x, 0, dy, 0, movingMean.value(), invStd, sumDy, sumDyXhat);
    } else if (ghost != null) {
      ghost.backward(s, x, dy, gamma == null ? null : effGamma, parallel, dx, sumDy, sumDyXhat);
    } else if (lastMask != null) {
      maskedBackward(s, x, dy, dx);
    } else if (isSynchronized) {
      BatchNorm.backwardReduce(s, x, 0, dy, 0, mean, invStd, sumDy, sumDyXhat);
      float[] globalDy = sumDy.clone(), globalDyXhat = sumDyXhat.clone();
      reducer.allReduceSum(globalDy, globalDyXhat);
      BatchNorm.backwardApply(s, x, 0, dy, 0, effGamma, mean, invStd, globalDy, globalDyXhat, lastCount, dx, 0);
    } else if (parallel != null) {
      parallel.backward(s, x, 0, dy, 0, effGamma, mean, invStd, dx, 0, sumDyXhat, sumDy);
    } else {
      BatchNorm.backward(s, x, 0, dy, 0, effGamma, mean, invStd, dx, 0, sumDyXhat, sumDy);
    }
    if (trainable) accumulateParameterGradients();
    return new Tensor(lastInput.shape(), dx);
  }

  private void accumulateParameterGradients() {
    boolean corrected = renorm && lastUsedBatchStatistics;
    for (int c = 0; c < channels; c++) {
      if (gamma != null) gamma.grad()[c] += corrected ? renormR[c] * sumDyXhat[c] + renormD[c] * sumDy[c] : sumDyXhat[c];
      if (beta != null) beta.grad()[c] += sumDy[c];
    }
  }

  /**
   * Masked positions do not feed the statistics, so only unmasked inputs get the statistics terms:
   * {@code dx_i = g*s*(dy_i - [i kept] * (sum(dy) + xhat_i * sum(dy*xhat)) / m)}, sums over all positions.
   */
  private void maskedBackward(NormShape s, float[] x, float[] dy, float[] dx) {
    int inner = s.inner();
    for (int c = 0; c < channels; c++) {
      double sDy = 0, sDyX = 0;
      for (int o = 0; o < s.outer(); o++) {
        for (int i = 0; i < inner; i++) {
          int k = (o * channels + c) * inner + i;
          sDy += dy[k];
          sDyX += dy[k] * (x[k] - (double) mean[c]) * invStd[c];
        }
      }
      sumDy[c] = (float) sDy;
      sumDyXhat[c] = (float) sDyX;
      double a = (double) effGamma[c] * invStd[c];
      for (int o = 0; o < s.outer(); o++) {
        for (int i = 0; i < inner; i++) {
          int k = (o * channels + c) * inner + i;
          double v = dy[k];
          if (lastCount > 0 && lastMask[o * inner + i]) v -= (sDy + (x[k] - (double) mean[c]) * invStd[c] * sDyX) / lastCount;
          dx[k] = (float) (a * v);
        }
      }
    }
  }

  /**
   * Keras 3's config keys, which Keras 3 accepts back ({@code cls(**config)}): the renorm keys only
   * with {@code renorm=true} (Keras before 3.14 has no renorm and refuses them), and the vecnorm-only
   * keys {@code moving_variance_mode} and {@code activation} only when not at their defaults, so the
   * config of a plain layer is exactly what Keras writes. Hyper-parameters are the configured doubles.
   * {@link #kerasConfig()} refuses a layer whose vecnorm-only keys would make Keras refuse the config.
   */
  @Override
  public Map<String, Object> getConfig() {
    Map<String, Object> m = new LinkedHashMap<>(super.getConfig());
    m.put("axis", (double) axis);
    m.put("momentum", momentum);
    affine.putHead(m);
    affine.putInitializers(m);
    m.put("moving_mean_initializer", movingMeanInitializer.toConfig()); // where Keras writes them
    m.put("moving_variance_initializer", movingVarianceInitializer.toConfig());
    affine.putTail(m);
    m.put("synchronized", isSynchronized);
    if (renorm) {
      m.put("renorm", true);
      Map<String, Object> clipping = null;
      if (rmax != null || rmin != null || dmax != null) {
        clipping = new LinkedHashMap<>();
        if (rmax != null) clipping.put("rmax", rmax);
        if (rmin != null) clipping.put("rmin", rmin);
        if (dmax != null) clipping.put("dmax", dmax);
      }
      m.put("renorm_clipping", clipping);
      m.put("renorm_momentum", renormMomentum);
    }
    if (movingVarianceMode != MovingVariance.BIASED) m.put("moving_variance_mode", movingVarianceMode.name().toLowerCase(java.util.Locale.ROOT));
    if (relu) m.put("activation", "relu");
    if (virtualBatchSize != null) m.put("virtual_batch_size", (double) virtualBatchSize); // only when set, as tf.keras 2 writes it
    return m;
  }

  /**
   * {@link #getConfig()} for a Keras file; a layer using a feature Keras's BatchNormalization lacks
   * throws {@code IllegalStateException} naming it and the Keras equivalent, instead of writing a
   * config Keras refuses ("Unrecognized keyword arguments"). Renormalization needs Keras 3.14 or later.
   */
  @Override
  public Map<String, Object> kerasConfig() {
    if (relu) {
      throw new IllegalStateException(name() + ": the fused ReLU (activation=\"relu\") has no Keras BatchNormalization equivalent;"
          + " export BatchNormalization followed by Activation(\"relu\") (same outputs)");
    }
    if (virtualBatchSize != null) {
      throw new IllegalStateException(name() + ": virtual_batch_size=" + virtualBatchSize + " (tf.keras 2's ghost batch norm) has no Keras 3"
          + " equivalent; Keras 3's BatchNormalization refuses the key. Save with ModelIO, or drop virtualBatchSize (inference is the same)");
    }
    if (movingVarianceMode != MovingVariance.BIASED) {
      throw new IllegalStateException(name() + ": moving_variance_mode=" + movingVarianceMode.name().toLowerCase(java.util.Locale.ROOT)
          + " (PyTorch's unbiased moving variance) has no Keras equivalent; Keras always moves the biased batch variance");
    }
    return getConfig();
  }

  private static MovingVariance movingVarianceMode(String name) {
    for (MovingVariance m : MovingVariance.values()) if (m.name().toLowerCase(java.util.Locale.ROOT).equals(name)) return m;
    throw new IllegalArgumentException("config key 'moving_variance_mode' must be biased or unbiased, got " + name);
  }

  private static final List<String> CONFIG_KEYS = Configs.keys(List.of("name", "trainable", "dtype", "axis", "momentum"), AffineOptions.KEYS,
      "moving_mean_initializer", "moving_variance_initializer", "synchronized", "renorm", "renorm_clipping", "renorm_momentum", "activity_regularizer", "moving_variance_mode", "activation", "virtual_batch_size");

  /**
   * Inverse of {@link #getConfig()}, and reads every form Keras 2.2 to 3.14 write: {@code dtype} as a
   * string or a {@code DTypePolicy} object, {@code axis} as an int or a one-element list, initializer,
   * regularizer and constraint objects with or without {@code module} / {@code registered_name},
   * {@code renorm*} and {@code synchronized} present or absent. Unknown keys are rejected by name, so
   * typos do not pass silently; {@code activity_regularizer} only as null.
   *
   * @param config the layer's Keras config; not null
   * @return the layer, not built
   */
  public static BatchNormalization fromConfig(Map<String, ?> config) {
    Objects.requireNonNull(config, "config");
    Configs.checkKeys(config, "BatchNormalization", CONFIG_KEYS);
    Configs.requireNull(config, "BatchNormalization", "activity_regularizer");
    Builder b = builder().readConfig(config)
        .axis(Configs.axis(config, "axis", -1))
        .momentum(Configs.num(config, "momentum", 0.99))
        .isSynchronized(Configs.bool(config, "synchronized", false))
        .renorm(Configs.bool(config, "renorm", false))
        .renormMomentum(Configs.num(config, "renorm_momentum", 0.99))
        .activation(Configs.str(config, "activation", "linear"))
        .movingVariance(movingVarianceMode(Configs.str(config, "moving_variance_mode", "biased")));
    if (config.get("virtual_batch_size") != null) {
      b.virtualBatchSize((int) Configs.integer(config, "virtual_batch_size", 1, Integer.MAX_VALUE));
    }
    if (config.get("moving_mean_initializer") != null) b.movingMeanInitializer(Initializer.fromConfig(config.get("moving_mean_initializer")));
    if (config.get("moving_variance_initializer") != null) {
      b.movingVarianceInitializer(Initializer.fromConfig(config.get("moving_variance_initializer")));
    }
    if (config.get("renorm_clipping") != null) {
      Map<?, ?> c = Configs.map(config.get("renorm_clipping"), "renorm_clipping");
      for (Object k : c.keySet()) {
        if (!List.of("rmax", "rmin", "dmax").contains(String.valueOf(k))) {
          throw new IllegalArgumentException("renorm_clipping has unknown key '" + k + "' (expected rmax, rmin, dmax)");
        }
      }
      b.renormClipping(c.get("rmax") == null ? null : Configs.num(c, "rmax"), c.get("rmin") == null ? null : Configs.num(c, "rmin"),
          c.get("dmax") == null ? null : Configs.num(c, "dmax"));
    }
    return b.build();
  }
}
