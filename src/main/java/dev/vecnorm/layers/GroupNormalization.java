package dev.vecnorm.layers;

import dev.vecnorm.GroupNorm;
import dev.vecnorm.GroupShape;
import dev.vecnorm.ParallelNorms;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Keras 3's {@code keras.layers.GroupNormalization}: the channels on {@code axis} split into
 * {@code groups} groups of consecutive channels; per sample and group, over those channels at every
 * other non-batch position, {@code y = (x - mean) / sqrt(var + epsilon) * gamma[c] + beta[c]}, the same in
 * training and inference (no moving statistics). Defaults as Keras: {@code groups=32}, {@code axis=-1},
 * {@code epsilon=1e-3}, {@code center=True}, {@code scale=True}, gamma ones, beta zeros; gamma and beta
 * have one value per channel. {@code groups=-1} means one group per channel (InstanceNorm) and, as in
 * Keras, becomes the channel count when the layer is built; {@code groups=1} normalizes each sample
 * over all its elements.
 *
 * <p>{@code axis} is the channel axis: {@code -1} (or the last index; channels-last, NHWC) or {@code 1}
 * (channels-first, NCHW), for inputs of rank 2 or more; the kernel is {@link GroupNorm} on
 * {@link GroupShape#nhwc} or {@link GroupShape#nchw}. Other axes are rejected by name when the layer is
 * built, as is a channel count that {@code groups} does not divide.
 */
public final class GroupNormalization extends AffineNormalization {

  private int groups;
  private final int axis;
  private int channels = -1;

  // The last call, for backward.
  private Tensor lastInput;
  private GroupShape lastShape;
  private float[] mean, invStd, dGamma, dBeta;

  private GroupNormalization(Builder b) {
    super(b);
    this.groups = b.groups;
    this.axis = b.axis;
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
   * A layer with every Keras default ({@code groups=32, axis=-1, epsilon=1e-3}).
   *
   * @return a new, unbuilt layer
   */
  public static GroupNormalization create() {
    return builder().build();
  }

  /**
   * InstanceNorm as Keras spells it: {@code GroupNormalization(groups=-1)}, one group per channel.
   *
   * @param axis the channel axis: -1 (channels-last) or 1 (channels-first)
   * @return a new, unbuilt layer
   */
  public static GroupNormalization instanceNormalization(int axis) {
    return builder().groups(-1).axis(axis).build();
  }

  /** Builder with Keras's argument names and defaults; {@link #build()} validates. */
  public static final class Builder extends AffineBuilder<Builder> {
    private static int counter;
    private int groups = 32;
    private int axis = -1;

    private Builder() {}

    @Override
    Builder self() { return this; }

    /**
     * Keras's {@code groups}
     *
     * @param groups number of channel groups, at least 1 and dividing the channel count, or -1 for one group per channel; default 32
     * @return this builder
     */
    public Builder groups(int groups) { this.groups = groups; return this; }
    /**
     * Keras's {@code axis}
     *
     * @param axis the channel axis: -1 or the last index (channels-last) or 1 (channels-first); default -1
     * @return this builder
     */
    public Builder axis(int axis) { this.axis = axis; return this; }
    /**
     * Runs this layer's kernels on {@code parallel}'s threads (forward and backward), as
     * {@link BatchNormalization.Builder#parallel} does: y and dx as on the caller's thread (bit for bit,
     * except channels-last group norm split into row ranges: float rounding), gradients of gamma and beta
     * summed per chunk in double (float rounding), the same bits for any thread count. A runtime choice,
     * not part of the config: set it again after fromConfig.
     *
     * @param parallel the threads to run on, or null to run on the caller's thread
     * @return this builder
     */
    public Builder parallel(ParallelNorms parallel) { this.norms = parallel; return this; }
    /**
     * Validates every argument and builds the layer (its weights are created on the first build or call;
     * the axis and the groups are checked against the input shape then).
     *
     * @return the layer
     * @throws IllegalArgumentException naming the first invalid argument
     */
    public GroupNormalization build() {
      if (groups < 1 && groups != -1) throw new IllegalArgumentException("groups must be >= 1, or -1 for one group per channel, got " + groups);
      checkOptions();
      if (name == null) name = "group_normalization" + (counter++ == 0 ? "" : "_" + (counter - 1));
      return new GroupNormalization(this);
    }
  }

  /**
   * Groups: as configured, or the channel count once built with {@code groups=-1} (as Keras).
   *
   * @return the number of groups
   */
  public int groups() { return groups; }
  /**
   * The channel axis as configured (negative allowed).
   *
   * @return the axis
   */
  public int axis() { return axis; }
  /**
   * Size of the channel axis.
   *
   * @return the channel count, or -1 before build
   */
  public int channels() { return channels; }
  /** The resolved channel axis: the last one (channels-last) or 1 (channels-first); rejects others by name. */
  private int channelAxis(int[] inputShape) {
    int rank = inputShape.length;
    if (rank < 2) throw new IllegalArgumentException(name() + ": input must have rank >= 2 (batch and channels), got " + Arrays.toString(inputShape));
    if (axis < -rank || axis >= rank) {
      throw new IllegalArgumentException(name() + ": axis " + axis + " is out of range for input rank " + rank + " " + Arrays.toString(inputShape));
    }
    int a = axis < 0 ? axis + rank : axis;
    if (a == 0) throw new IllegalArgumentException(name() + ": axis " + axis + " is the batch axis; the channel axis is -1 or 1");
    if (a != rank - 1 && a != 1) {
      throw new IllegalArgumentException(name() + ": axis " + axis + " is not supported for input rank " + rank
          + ": the channel axis must be the last (-1, channels-last) or 1 (channels-first)");
    }
    return a;
  }

  /** The kernel's view of an input: channels on the resolved axis, every other non-batch axis spatial. */
  private GroupShape groupShape(int[] inputShape, int groupCount) {
    int a = channelAxis(inputShape);
    int c = inputShape[a];
    int g = groupCount == -1 ? c : groupCount;
    if (c < 1) throw new IllegalArgumentException(name() + ": the channel axis " + axis + " of " + Arrays.toString(inputShape) + " is empty");
    if (g > c) {
      throw new IllegalArgumentException(name() + ": groups = " + g + " cannot be more than the number of channels (" + c + " on axis "
          + axis + " of " + Arrays.toString(inputShape) + ")");
    }
    if (c % g != 0) {
      throw new IllegalArgumentException(name() + ": groups = " + g + " must divide the number of channels, but " + c + " channels (axis "
          + axis + " of " + Arrays.toString(inputShape) + ") is not a multiple of " + g);
    }
    long spatial = 1;
    for (int i = 1; i < inputShape.length; i++) if (i != a) spatial *= inputShape[i];
    if (spatial > Integer.MAX_VALUE) throw new IllegalArgumentException(name() + ": " + spatial + " positions per channel exceed an array");
    int batch = Math.max(1, inputShape[0]), positions = (int) Math.max(1, spatial);
    // Rank 2 ([N, C]): axis 1 is also the last, and both layouts are the same memory.
    return a == inputShape.length - 1 ? GroupShape.nhwc(batch, positions, c, g) : GroupShape.nchw(batch, c, positions, g);
  }

  @Override
  protected void checkBuildable(int[] inputShape) {
    GroupShape s = groupShape(inputShape, groups);
    checkAllocation(s.channels() + " channels", s.channels(), 4); // gamma, beta and their gradients
  }

  @Override
  protected void checkCompatible(int[] inputShape) {
    checkBuiltRank(inputShape);
    int c = inputShape[channelAxis(inputShape)];
    if (c != channels) {
      throw new IllegalArgumentException(name() + " was built for " + channels + " channels on axis " + axis + ", but the input "
          + Arrays.toString(inputShape) + " has " + c);
    }
  }

  @Override
  protected void doBuild(int[] inputShape) {
    GroupShape s = groupShape(inputShape, groups);
    channels = s.channels();
    groups = s.groups(); // -1 becomes the channel count, as Keras's build does
    // Keras 3: gamma first, then beta, each of shape (channels,).
    buildAffine(channels, affine.scale(), affine.center());
    dGamma = new float[channels];
    dBeta = new float[channels];
  }

  /** Same computation in training and inference (no moving statistics), as Keras. */
  @Override
  protected Tensor forward(Tensor input, boolean training) {
    checkCompatible(input.shape());
    float[] x = input.data(), y = new float[x.length];
    lastInput = input;
    if (x.length == 0) { // an empty batch: nothing to normalize
      lastShape = null;
      return new Tensor(input.shape(), y);
    }
    GroupShape s = groupShape(input.shape(), groups);
    if (invStd == null || invStd.length != s.statistics()) {
      mean = new float[s.statistics()];
      invStd = new float[s.statistics()];
    }
    if (norms != null) norms.groupNormForward(s, x, 0, gamma(), beta(), epsilonF, y, 0, mean, invStd);
    else GroupNorm.forward(s, x, 0, gamma(), beta(), epsilonF, y, 0, mean, invStd);
    lastShape = s;
    return new Tensor(input.shape(), y);
  }

  @Override
  public Tensor backward(Tensor gradOutput) {
    checkGradient(lastInput == null ? null : lastInput.shape(), gradOutput);
    float[] x = lastInput.data(), dx = new float[x.length];
    if (lastShape == null) return new Tensor(lastInput.shape(), dx);
    if (norms != null) norms.groupNormBackward(lastShape, x, 0, gradOutput.data(), 0, gamma(), mean, invStd, dx, 0, dGamma, dBeta);
    else GroupNorm.backward(lastShape, x, 0, gradOutput.data(), 0, gamma(), mean, invStd, dx, 0, dGamma, dBeta);
    addAffineGradients(channels, dGamma, dBeta);
    return new Tensor(lastInput.shape(), dx);
  }

  @Override
  public Map<String, Object> getConfig() {
    Map<String, Object> m = new LinkedHashMap<>(super.getConfig());
    m.put("groups", (double) groups);
    m.put("axis", (double) axis);
    affine.putAll(m);
    return m;
  }

  private static final List<String> CONFIG_KEYS = Configs.keys(List.of("name", "trainable", "dtype", "groups", "axis"), AffineOptions.KEYS,
      "activity_regularizer");

  /**
   * Inverse of {@link #getConfig()}: Keras 3's keys ({@code groups, axis, epsilon, center, scale} and the
   * initializers, regularizers and constraints of beta and gamma), {@code dtype} as a string or a
   * {@code DTypePolicy} object, {@code axis} as an int or a one-element list. Unknown keys are rejected by
   * name; {@code activity_regularizer} only as null.
   *
   * @param config the layer's Keras config; not null
   * @return the layer, not built
   * @throws IllegalArgumentException naming an unknown key or invalid value
   */
  public static GroupNormalization fromConfig(Map<String, ?> config) {
    Objects.requireNonNull(config, "config");
    Configs.checkKeys(config, "GroupNormalization", CONFIG_KEYS);
    Configs.requireNull(config, "GroupNormalization", "activity_regularizer");
    return builder().readConfig(config)
        .groups((int) Configs.integer(config, "groups", -1, Integer.MAX_VALUE, 32))
        .axis(Configs.axis(config, "axis", -1))
        .build();
  }
}
