package dev.vecnorm;

/**
 * The view {@link GroupNorm} takes of an activation: {@code batch} samples of {@code channels} channels
 * at {@code spatial} positions ({@code H*W} for images, {@code W} for sequences, 1 for vectors), with
 * the channels split into {@code groups} groups of {@code channels / groups} consecutive channels.
 * Statistics are per sample and group, over {@code channelsPerGroup() * spatial} elements.
 *
 * <p>Channels-last ({@code NHWC}): element {@code (n, p, c)} at {@code (n*spatial + p)*channels + c}, so a
 * group is a run of {@code channels / groups} floats in each of the sample's {@code spatial} rows.
 * Channels-first ({@code NCHW}): element {@code (n, c, p)} at {@code (n*channels + c)*spatial + p}, so a
 * group is one contiguous block of {@code (channels / groups) * spatial} floats.
 *
 * <p>InstanceNorm is the case {@code groups == channels} ({@link #instanceNhwc}, {@link #instanceNchw});
 * {@code groups == 1} normalizes each sample over all its elements, as LayerNorm over {@code [C, H, W]}
 * with per-channel gamma and beta.
 *
 * <p>A separate record rather than a {@link NormShape}: a channels-last NormShape folds the batch into its
 * rows, and group statistics need the batch.
 *
 * @param batch batch size {@code N}, at least 1
 * @param channels number of channels {@code C}, at least 1
 * @param spatial product of the spatial dimensions ({@code H*W}), at least 1
 * @param groups number of channel groups, at least 1, dividing {@code channels}
 * @param channelsLast true for {@code NHWC} (channels fastest), false for {@code NCHW}
 */
public record GroupShape(int batch, int channels, int spatial, int groups, boolean channelsLast) {

  /**
   * Checks the dimensions.
   *
   * @throws IllegalArgumentException if a dimension is below 1, {@code groups} does not divide
   *     {@code channels}, or the tensor's float32 byte size exceeds {@code Long.MAX_VALUE}
   */
  public GroupShape {
    if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
    if (channels < 1) throw new IllegalArgumentException("channels must be >= 1, got " + channels);
    if (spatial < 1) throw new IllegalArgumentException("spatial must be >= 1, got " + spatial);
    if (groups < 1) throw new IllegalArgumentException("groups must be >= 1, got " + groups);
    if (channels % groups != 0) {
      throw new IllegalArgumentException("groups must divide channels: channels = " + channels + " is not a multiple of groups = " + groups);
    }
    new NormShape(batch, channels, spatial); // the same size limit as every other kernel
  }

  /**
   * Channels-last {@code [N, spatial, C]} (NHWC, NWC, NC).
   *
   * @param batch batch size {@code N}, at least 1
   * @param spatial product of the spatial dimensions ({@code H*W}), at least 1
   * @param channels number of channels, at least 1
   * @param groups number of groups, dividing {@code channels}
   * @return the shape
   */
  public static GroupShape nhwc(int batch, int spatial, int channels, int groups) {
    return new GroupShape(batch, channels, spatial, groups, true);
  }

  /**
   * Channels-first {@code [N, C, spatial]} (NCHW, NCW), PyTorch's layout.
   *
   * @param batch batch size {@code N}, at least 1
   * @param channels number of channels, at least 1
   * @param spatial product of the spatial dimensions ({@code H*W}), at least 1
   * @param groups number of groups, dividing {@code channels}
   * @return the shape
   */
  public static GroupShape nchw(int batch, int channels, int spatial, int groups) {
    return new GroupShape(batch, channels, spatial, groups, false);
  }

  /**
   * InstanceNorm, channels-last: one group per channel ({@code groups == channels}).
   *
   * @param batch batch size {@code N}, at least 1
   * @param spatial product of the spatial dimensions ({@code H*W}), at least 1
   * @param channels number of channels, at least 1
   * @return {@code nhwc(batch, spatial, channels, channels)}
   */
  public static GroupShape instanceNhwc(int batch, int spatial, int channels) {
    return nhwc(batch, spatial, channels, channels);
  }

  /**
   * InstanceNorm, channels-first: one group per channel ({@code groups == channels}), as
   * {@code torch.nn.InstanceNorm2d} with {@code affine=True} in training mode.
   *
   * @param batch batch size {@code N}, at least 1
   * @param channels number of channels, at least 1
   * @param spatial product of the spatial dimensions ({@code H*W}), at least 1
   * @return {@code nchw(batch, channels, spatial, channels)}
   */
  public static GroupShape instanceNchw(int batch, int channels, int spatial) {
    return nchw(batch, channels, spatial, channels);
  }

  /**
   * Channels per group.
   *
   * @return {@code channels / groups}
   */
  public int channelsPerGroup() {
    return channels / groups;
  }

  /**
   * Floats in the tensor.
   *
   * @return {@code batch * channels * spatial}
   */
  public long size() {
    return (long) batch * channels * spatial;
  }

  /**
   * Length of the per-(sample, group) statistics arrays; group {@code g} of sample {@code n} is at {@code n * groups + g}.
   *
   * @return {@code batch * groups}
   * @throws IllegalArgumentException if that exceeds {@code Integer.MAX_VALUE}
   */
  public int statistics() {
    long k = (long) batch * groups;
    if (k > Integer.MAX_VALUE) throw new IllegalArgumentException("batch*groups = " + k + " statistics exceed the largest array");
    return (int) k;
  }
}
