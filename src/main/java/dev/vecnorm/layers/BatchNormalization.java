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
 *       the moving statistics unchanged (and normalizes with mean 0, variance 0, as Keras computes).</li>
 *   <li>Batch renormalization (Ioffe 2017, Keras's {@code renorm=True}): {@code r = clip(std / renormStd,
 *       rmin, rmax)}, {@code d = clip((mean - renormMean) / renormStd, -dmax, dmax)}, no gradient through
 *       r and d, {@code y = gamma * (r * xhat + d) + beta}; renorm mean and stddev move with
 *       {@code renormMomentum}.</li>
 *   <li>Synchronized: batch statistics and backward sums go through a {@link StatisticsReducer}. Each
 *       replica's gamma/beta gradients are its local contribution; sum them across replicas, as
 *       data-parallel training does with every other gradient.</li>
 * </ul>
 */
public final class BatchNormalization extends Layer {

  private final int axis;
  private final float momentum, epsilon;
  private final boolean center, scale;
  private final Initializer betaInitializer, gammaInitializer, movingMeanInitializer, movingVarianceInitializer;
  private final Regularizer betaRegularizer, gammaRegularizer;
  private final Constraint betaConstraint, gammaConstraint;
  private final boolean renorm;
  private final Double rmax, rmin, dmax;
  private final float renormMomentum;
  private final boolean isSynchronized;
  private final MovingVariance movingVarianceMode;
  private final boolean relu;
  private final ParallelBatchNorm parallel;
  private StatisticsReducer reducer;

  private int channels = -1;
  private Parameter gamma, beta, movingMean, movingVariance, renormMean, renormStddev;

  // Cached by the last call for backward.
  private Tensor lastInput;
  private float[] lastOutput;
  private NormShape lastShape;
  private boolean lastUsedBatchStatistics;
  private boolean[] lastMask;
  private long lastCount;
  private float[] mean, variance, invStd, effGamma, renormR, renormD, sumDy, sumDyXhat;
  private Moments localMoments;

  private BatchNormalization(Builder b) {
    super(b.name);
    this.axis = b.axis;
    this.momentum = b.momentum;
    this.epsilon = b.epsilon;
    this.center = b.center;
    this.scale = b.scale;
    this.betaInitializer = b.betaInitializer;
    this.gammaInitializer = b.gammaInitializer;
    this.movingMeanInitializer = b.movingMeanInitializer;
    this.movingVarianceInitializer = b.movingVarianceInitializer;
    this.betaRegularizer = b.betaRegularizer;
    this.gammaRegularizer = b.gammaRegularizer;
    this.betaConstraint = b.betaConstraint;
    this.gammaConstraint = b.gammaConstraint;
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
    this.trainable = b.trainable;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** A layer with every Keras default. */
  public static BatchNormalization create() {
    return builder().build();
  }

  /** Builder with Keras's argument names and defaults; {@link #build()} validates. */
  public static final class Builder {
    private static int counter;
    private String name;
    private int axis = -1;
    private float momentum = 0.99f, epsilon = 1e-3f;
    private boolean center = true, scale = true;
    private Initializer betaInitializer = Initializer.zeros(), gammaInitializer = Initializer.ones();
    private Initializer movingMeanInitializer = Initializer.zeros(), movingVarianceInitializer = Initializer.ones();
    private Regularizer betaRegularizer, gammaRegularizer;
    private Constraint betaConstraint, gammaConstraint;
    private boolean renorm;
    private Double rmax, rmin, dmax;
    private float renormMomentum = 0.99f;
    private boolean isSynchronized;
    private MovingVariance movingVarianceMode = MovingVariance.BIASED;
    private StatisticsReducer reducer;
    private boolean trainable = true;
    private boolean relu;
    private ParallelBatchNorm parallel;
    private String dtype = "float32";

    private Builder() {}

    public Builder axis(int axis) { this.axis = axis; return this; }
    public Builder momentum(double momentum) { this.momentum = (float) momentum; return this; }
    public Builder epsilon(double epsilon) { this.epsilon = (float) epsilon; return this; }
    public Builder center(boolean center) { this.center = center; return this; }
    public Builder scale(boolean scale) { this.scale = scale; return this; }
    public Builder betaInitializer(Initializer i) { this.betaInitializer = Objects.requireNonNull(i, "betaInitializer"); return this; }
    public Builder gammaInitializer(Initializer i) { this.gammaInitializer = Objects.requireNonNull(i, "gammaInitializer"); return this; }
    public Builder movingMeanInitializer(Initializer i) { this.movingMeanInitializer = Objects.requireNonNull(i, "movingMeanInitializer"); return this; }
    public Builder movingVarianceInitializer(Initializer i) { this.movingVarianceInitializer = Objects.requireNonNull(i, "movingVarianceInitializer"); return this; }
    public Builder betaRegularizer(Regularizer r) { this.betaRegularizer = r; return this; }
    public Builder gammaRegularizer(Regularizer r) { this.gammaRegularizer = r; return this; }
    public Builder betaConstraint(Constraint c) { this.betaConstraint = c; return this; }
    public Builder gammaConstraint(Constraint c) { this.gammaConstraint = c; return this; }
    public Builder renorm(boolean renorm) { this.renorm = renorm; return this; }
    /** Keras's {@code renorm_clipping={'rmax':..,'rmin':..,'dmax':..}}; null leaves that bound off. */
    public Builder renormClipping(Double rmax, Double rmin, Double dmax) { this.rmax = rmax; this.rmin = rmin; this.dmax = dmax; return this; }
    public Builder renormMomentum(double m) { this.renormMomentum = (float) m; return this; }
    /** Keras's {@code synchronized=True}; the layer needs a reducer before its first training call. */
    public Builder synchronizedWith(StatisticsReducer reducer) { this.isSynchronized = true; this.reducer = Objects.requireNonNull(reducer, "reducer"); return this; }
    public Builder isSynchronized(boolean s) { this.isSynchronized = s; return this; }
    public Builder movingVariance(MovingVariance mode) { this.movingVarianceMode = Objects.requireNonNull(mode, "movingVariance"); return this; }
    public Builder trainable(boolean trainable) { this.trainable = trainable; return this; }
    public Builder name(String name) { this.name = name; return this; }
    public Builder dtype(String dtype) { this.dtype = dtype; return this; }
    /**
     * Runs this layer's kernels on {@code parallel}'s threads (training and inference forward, backward;
     * results do not depend on the thread count). Not part of the config: set it again after fromConfig.
     */
    public Builder parallel(ParallelBatchNorm parallel) { this.parallel = parallel; return this; }
    /**
     * vecnorm extension: {@code "relu"} fuses a ReLU after the normalization (one pass forward and
     * backward, see {@link dev.vecnorm.BatchNormRelu}); {@code "linear"} (default) is plain Keras.
     */
    public Builder activation(String activation) {
      this.relu = switch (activation) {
        case "relu" -> true;
        case "linear" -> false;
        default -> throw new IllegalArgumentException("activation must be \"relu\" or \"linear\", got " + activation);
      };
      return this;
    }

    public BatchNormalization build() {
      if (!(momentum >= 0 && momentum <= 1)) throw new IllegalArgumentException("momentum must be in [0, 1], got " + momentum);
      if (!(epsilon > 0) || Float.isInfinite(epsilon)) throw new IllegalArgumentException("epsilon must be finite and > 0, got " + epsilon);
      if (!(renormMomentum >= 0 && renormMomentum <= 1)) {
        throw new IllegalArgumentException("renormMomentum must be in [0, 1], got " + renormMomentum);
      }
      if (rmax != null && !(rmax >= 1)) throw new IllegalArgumentException("renormClipping rmax must be >= 1, got " + rmax);
      if (rmin != null && !(rmin > 0 && rmin <= 1)) throw new IllegalArgumentException("renormClipping rmin must be in (0, 1], got " + rmin);
      if (dmax != null && !(dmax >= 0)) throw new IllegalArgumentException("renormClipping dmax must be >= 0, got " + dmax);
      if (!"float32".equals(dtype)) {
        throw new IllegalArgumentException("dtype must be float32, got " + dtype + " (float16/bfloat16 storage is not supported)");
      }
      if (name == null) name = "batch_normalization" + (counter++ == 0 ? "" : "_" + (counter - 1));
      return new BatchNormalization(this);
    }
  }

  /** For layers built from a config: attach the reducer of this replica. */
  public void setStatisticsReducer(StatisticsReducer reducer) {
    this.reducer = reducer;
  }

  public int axis() {
    return axis;
  }

  public float momentum() {
    return momentum;
  }

  public float epsilon() {
    return epsilon;
  }

  /** {@code "relu"} when a ReLU is fused after the normalization, else {@code "linear"}. */
  public String activation() {
    return relu ? "relu" : "linear";
  }

  public int channels() {
    return channels;
  }

  @Override
  protected void doBuild(int[] inputShape) {
    NormShape s = shapeOf(inputShape);
    channels = s.channels();
    int C = channels;
    if (scale) gamma = param("gamma", C, gammaInitializer, true, gammaRegularizer, gammaConstraint);
    if (center) beta = param("beta", C, betaInitializer, true, betaRegularizer, betaConstraint);
    movingMean = param("moving_mean", C, movingMeanInitializer, false, null, null);
    movingVariance = param("moving_variance", C, movingVarianceInitializer, false, null, null);
    if (renorm) {
      renormMean = param("renorm_mean", C, Initializer.zeros(), false, null, null);
      renormStddev = param("renorm_stddev", C, Initializer.ones(), false, null, null);
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

  private static Parameter param(String name, int n, Initializer init, boolean trainable, Regularizer r, Constraint c) {
    float[] w = new float[n];
    init.fill(w, n, n);
    return new Parameter(name, w, trainable, r, c);
  }

  private NormShape shapeOf(int[] inputShape) {
    int rank = inputShape.length;
    if (rank < 1) throw new IllegalArgumentException(name() + ": input must have rank >= 1");
    if (axis < -rank || axis >= rank) {
      throw new IllegalArgumentException(name() + ": axis " + axis + " is out of range for input rank " + rank + " " + Arrays.toString(inputShape));
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
    int builtRank = builtShape().length;
    if (rank != builtRank) {
      // Keras's InputSpec: "expected ndim=2, found ndim=3".
      throw new IllegalArgumentException(name() + " was built for inputs of rank " + builtRank + ", expected ndim=" + builtRank
          + ", found ndim=" + rank + " (shape " + Arrays.toString(inputShape) + ")");
    }
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
    List<Parameter> p = new ArrayList<>();
    if (gamma != null) p.add(gamma);
    if (beta != null) p.add(beta);
    if (movingMean != null) p.add(movingMean);
    if (movingVariance != null) p.add(movingVariance);
    if (renormMean != null) p.add(renormMean);
    if (renormStddev != null) p.add(renormStddev);
    return p;
  }

  public float[] gamma() { return gamma == null ? null : gamma.value(); }
  public float[] beta() { return beta == null ? null : beta.value(); }
  public float[] movingMean() { return movingMean == null ? null : movingMean.value(); }
  public float[] movingVariance() { return movingVariance == null ? null : movingVariance.value(); }

  @Override
  protected Tensor forward(Tensor input, boolean training) {
    return forward(input, training, null);
  }

  /** {@code call(input, training, mask)}: see the class comment for mask semantics. */
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
    float[] x = input.data();
    float[] y = new float[x.length];
    float[] g = gamma == null ? null : gamma.value(), b = beta == null ? null : beta.value();
    lastInput = input;
    lastShape = s;
    lastMask = useBatch ? mask : null;
    lastUsedBatchStatistics = useBatch;
    if (!useBatch) {
      float[] mm = movingMean.value(), mv = movingVariance.value();
      if (parallel != null && relu) parallel.forwardInferenceRelu(s, x, 0, null, 0, g, b, mm, mv, epsilon, y, 0);
      else if (parallel != null) parallel.forwardInference(s, x, 0, g, b, mm, mv, epsilon, y, 0);
      else if (relu) BatchNormRelu.forwardInference(s, x, 0, null, 0, g, b, mm, mv, epsilon, y, 0);
      else BatchNorm.forwardInference(s, x, 0, g, b, mm, mv, epsilon, y, 0);
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
      global.invStdTo(epsilon, invStd);
      lastCount = global.count();
    } else if (!renorm) {
      if (parallel != null && relu) parallel.forwardTrainingRelu(s, x, 0, null, 0, g, b, epsilon, y, 0, mean, variance, invStd);
      else if (parallel != null) parallel.forwardTraining(s, x, 0, g, b, epsilon, y, 0, mean, variance, invStd);
      else if (relu) BatchNormRelu.forwardTraining(s, x, 0, null, 0, g, b, epsilon, y, 0, mean, variance, invStd);
      else BatchNorm.forwardTraining(s, x, 0, g, b, epsilon, y, 0, mean, variance, invStd);
      lastCount = s.countPerChannel();
      effectiveGamma(g);
      updateMovingStatistics();
      lastOutput = y;
      return new Tensor(input.shape(), y);
    } else {
      BatchNorm.moments(s, x, 0, localMoments);
      localMoments.meanTo(mean);
      localMoments.varianceTo(variance);
      localMoments.invStdTo(epsilon, invStd);
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
    float floor = (float) Math.sqrt(epsilon);
    for (int c = 0; c < channels; c++) {
      double std = Math.sqrt((double) variance[c] + epsilon);
      double renormStd = Math.max(rs[c], floor);
      double r = std / renormStd, d = (mean[c] - rm[c]) / renormStd;
      if (rmax != null) r = Math.min(r, rmax);
      if (rmin != null) r = Math.max(r, rmin);
      if (dmax != null) d = Math.max(-dmax, Math.min(d, dmax));
      renormR[c] = (float) r;
      renormD[c] = (float) d;
      shift[c] = (b == null ? 0f : b[c]) + (g == null ? 1f : g[c]) * renormD[c];
      rm[c] = rm[c] * renormMomentum + mean[c] * (1 - renormMomentum);
      rs[c] = (float) (rs[c] * renormMomentum + std * (1 - renormMomentum));
    }
    return shift;
  }

  private void updateMovingStatistics() {
    if (movingVarianceMode == MovingVariance.UNBIASED && lastCount >= 2) {
      BatchNorm.updateMovingStatistics(momentum, mean, variance, movingMean.value(), movingVariance.value(), lastCount,
          MovingVariance.UNBIASED);
    } else {
      BatchNorm.updateMovingStatistics(momentum, mean, variance, movingMean.value(), movingVariance.value());
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
      invStd[c] = (float) (1 / Math.sqrt(variance[c] + (double) epsilon));
    }
    return count;
  }

  @Override
  public Tensor backward(Tensor gradOutput) {
    checkGradient(lastInput == null ? null : lastInput.shape(), gradOutput);
    NormShape s = lastShape;
    float[] x = lastInput.data(), dy = gradOutput.data(), dx = new float[x.length];
    boolean fusedPath = relu && lastUsedBatchStatistics && lastMask == null && !isSynchronized && !renorm;
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
      for (int c = 0; c < channels; c++) invStd[c] = (float) (1 / Math.sqrt((double) movingVariance.value()[c] + epsilon));
      BatchNorm.forwardInference(s, dy, 0, gamma == null ? null : gamma.value(), null, new float[channels],
          movingVariance.value(), epsilon, dx, 0);
      BatchNorm.backwardReduce(s, x, 0, dy, 0, movingMean.value(), invStd, sumDy, sumDyXhat);
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

  /** Regularization losses of gamma and beta, with their gradients added. */
  public double regularizationLoss() {
    double loss = 0;
    if (!trainable) return 0;
    if (gamma != null) loss += gamma.addRegularization();
    if (beta != null) loss += beta.addRegularization();
    return loss;
  }

  @Override
  public Map<String, Object> getConfig() {
    Map<String, Object> m = new LinkedHashMap<>(super.getConfig());
    m.put("axis", (double) axis);
    m.put("momentum", (double) momentum);
    m.put("epsilon", (double) epsilon);
    m.put("center", center);
    m.put("scale", scale);
    m.put("beta_initializer", betaInitializer.toConfig());
    m.put("gamma_initializer", gammaInitializer.toConfig());
    m.put("moving_mean_initializer", movingMeanInitializer.toConfig());
    m.put("moving_variance_initializer", movingVarianceInitializer.toConfig());
    m.put("beta_regularizer", betaRegularizer == null ? null : betaRegularizer.toConfig());
    m.put("gamma_regularizer", gammaRegularizer == null ? null : gammaRegularizer.toConfig());
    m.put("beta_constraint", betaConstraint == null ? null : betaConstraint.toConfig());
    m.put("gamma_constraint", gammaConstraint == null ? null : gammaConstraint.toConfig());
    m.put("synchronized", isSynchronized);
    m.put("renorm", renorm);
    Map<String, Object> clipping = null;
    if (rmax != null || rmin != null || dmax != null) {
      clipping = new LinkedHashMap<>();
      if (rmax != null) clipping.put("rmax", rmax);
      if (rmin != null) clipping.put("rmin", rmin);
      if (dmax != null) clipping.put("dmax", dmax);
    }
    m.put("renorm_clipping", clipping);
    m.put("renorm_momentum", (double) renormMomentum);
    m.put("moving_variance_mode", movingVarianceMode.name().toLowerCase(java.util.Locale.ROOT));
    m.put("activation", relu ? "relu" : "linear");
    return m;
  }

  private static MovingVariance movingVarianceMode(String name) {
    for (MovingVariance m : MovingVariance.values()) if (m.name().toLowerCase(java.util.Locale.ROOT).equals(name)) return m;
    throw new IllegalArgumentException("config key 'moving_variance_mode' must be biased or unbiased, got " + name);
  }

  /** Inverse of {@link #getConfig()} (unknown keys are rejected, so typos do not pass silently). */
  public static BatchNormalization fromConfig(Map<String, ?> config) {
    Objects.requireNonNull(config, "config");
    List<String> known = List.of("name", "trainable", "dtype", "axis", "momentum", "epsilon",
        "center", "scale", "beta_initializer", "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer",
        "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint", "synchronized", "renorm",
        "renorm_clipping", "renorm_momentum", "moving_variance_mode", "activation");
    Configs.checkKeys(config, "BatchNormalization", known);
    Builder b = builder()
        .name(Configs.str(config, "name", null))
        .trainable(Configs.bool(config, "trainable", true))
        .dtype(Configs.str(config, "dtype", "float32"))
        .axis((int) Configs.integer(config, "axis", Integer.MIN_VALUE, Integer.MAX_VALUE, -1))
        .momentum(Configs.num(config, "momentum", 0.99))
        .epsilon(Configs.num(config, "epsilon", 1e-3))
        .center(Configs.bool(config, "center", true))
        .scale(Configs.bool(config, "scale", true))
        .isSynchronized(Configs.bool(config, "synchronized", false))
        .renorm(Configs.bool(config, "renorm", false))
        .renormMomentum(Configs.num(config, "renorm_momentum", 0.99))
        .activation(Configs.str(config, "activation", "linear"))
        .movingVariance(movingVarianceMode(Configs.str(config, "moving_variance_mode", "biased")));
    if (config.get("beta_initializer") != null) b.betaInitializer(Initializer.fromConfig(config.get("beta_initializer")));
    if (config.get("gamma_initializer") != null) b.gammaInitializer(Initializer.fromConfig(config.get("gamma_initializer")));
    if (config.get("moving_mean_initializer") != null) b.movingMeanInitializer(Initializer.fromConfig(config.get("moving_mean_initializer")));
    if (config.get("moving_variance_initializer") != null) {
      b.movingVarianceInitializer(Initializer.fromConfig(config.get("moving_variance_initializer")));
    }
    b.betaRegularizer(Regularizer.fromConfig(config.get("beta_regularizer")));
    b.gammaRegularizer(Regularizer.fromConfig(config.get("gamma_regularizer")));
    b.betaConstraint(Constraint.fromConfig(config.get("beta_constraint")));
    b.gammaConstraint(Constraint.fromConfig(config.get("gamma_constraint")));
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
