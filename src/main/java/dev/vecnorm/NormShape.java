package dev.vecnorm;

/**
 * The view a batch-normalization kernel takes of a tensor: {@code [outer, channels, inner]}, row-major.
 *
 * <p>Every layout reduces to this: channels-last tensors ({@code NC}, {@code NWC}, {@code NHWC}) are
 * {@code [rows, C, 1]} with {@code rows = N*H*W}; channels-first tensors ({@code NCW}, {@code NCHW})
 * are {@code [N, C, H*W]}; any other axis of a row-major tensor splits it into the product of the dims
 * before the axis, the axis, and the product of the dims after it. Statistics are per channel, over
 * {@code outer * inner} elements.
 *
 * @param outer    product of the dimensions before the channel axis, at least 1
 * @param channels size of the channel axis, at least 1
 * @param inner    product of the dimensions after the channel axis, at least 1
 */
public record NormShape(int outer, int channels, int inner) {

  /**
   * Checks the dimensions.
   *
   * @throws IllegalArgumentException if a dimension is below 1, or the tensor's float32 byte size
   *     exceeds {@code Long.MAX_VALUE}
   */
  public NormShape {
    if (outer < 1) throw new IllegalArgumentException("outer must be >= 1, got " + outer);
    if (channels < 1) throw new IllegalArgumentException("channels must be >= 1, got " + channels);
    if (inner < 1) throw new IllegalArgumentException("inner must be >= 1, got " + inner);
    // Reject shapes whose float32 byte size, 4 * outer * channels * inner, passes Long.MAX_VALUE: no
    // memory can hold them, and size checks computed in long would wrap and pass.
    try {
      Math.multiplyExact(Math.multiplyExact((long) outer * channels, (long) inner), (long) Float.BYTES);
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException("outer*channels*inner = " + outer + "*" + channels + "*" + inner
          + " floats take more than Long.MAX_VALUE bytes", e);
    }
  }

  /**
   * {@code [rows, channels]}: NC, NWC, NHWC with {@code rows = N*H*W}.
   *
   * @param rows product of every dimension but the channel one ({@code N*H*W}), at least 1
   * @param channels number of channels, at least 1
   * @return the shape {@code [rows, channels, 1]}
   */
  public static NormShape channelsLast(int rows, int channels) {
    if (rows < 1) throw new IllegalArgumentException("rows must be >= 1, got " + rows);
    return new NormShape(rows, channels, 1);
  }

  /**
   * {@code [batch, channels, spatial]}: NCW, NCHW with {@code spatial = H*W}.
   *
   * @param batch batch size {@code N}, at least 1
   * @param channels number of channels, at least 1
   * @param spatial product of the spatial dimensions ({@code H*W}), at least 1
   * @return the shape {@code [batch, channels, spatial]}
   */
  public static NormShape channelsFirst(int batch, int channels, int spatial) {
    if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
    if (spatial < 1) throw new IllegalArgumentException("spatial must be >= 1, got " + spatial);
    return new NormShape(batch, channels, spatial);
  }

  /**
   * The shape for normalizing a row-major tensor of {@code dims} over every axis but {@code axis},
   * as Keras's {@code BatchNormalization(axis=...)}. A negative axis counts from the end.
   *
   * @param dims the row-major tensor's dimensions, each at least 1
   * @param axis the channel axis; negative counts from the end
   * @return the shape {@code [product of dims before axis, dims[axis], product of dims after axis]}
   */
  public static NormShape of(int[] dims, int axis) {
    if (dims == null) throw new NullPointerException("dims");
    if (dims.length == 0) throw new IllegalArgumentException("dims must have rank >= 1, got rank 0");
    int rank = dims.length;
    if (axis < -rank || axis >= rank) {
      throw new IllegalArgumentException("axis must be in [" + (-rank) + ", " + (rank - 1) + "] for rank " + rank + ", got " + axis);
    }
    int a = axis < 0 ? axis + rank : axis;
    long outer = 1, inner = 1;
    for (int i = 0; i < rank; i++) {
      if (dims[i] < 1) throw new IllegalArgumentException("dims[" + i + "] must be >= 1, got " + dims[i]);
      if (i < a) outer *= dims[i];
      else if (i > a) inner *= dims[i];
      if (outer > Integer.MAX_VALUE || inner > Integer.MAX_VALUE) {
        throw new IllegalArgumentException("dims " + java.util.Arrays.toString(dims) + " have more than Integer.MAX_VALUE elements on one side of axis " + axis);
      }
    }
    return new NormShape((int) outer, dims[a], (int) inner);
  }

  /**
   * Number of elements, {@code outer * channels * inner}.
   *
   * @return {@code outer * channels * inner}
   */
  public long size() {
    return (long) outer * channels * inner;
  }

  /**
   * Elements per channel that statistics run over, {@code outer * inner}.
   *
   * @return {@code outer * inner}
   */
  public long countPerChannel() {
    return (long) outer * inner;
  }

  /**
   * True when channels are the fastest-varying dimension ({@code inner == 1}).
   *
   * @return whether {@code inner == 1}
   */
  public boolean isChannelsLast() {
    return inner == 1;
  }
}
