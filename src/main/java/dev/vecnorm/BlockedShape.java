package dev.vecnorm;

/**
 * oneDNN's blocked channels layout {@code nChw[L]c}: a tensor of {@code batch x channels x spatial}
 * stored as {@code [batch, channelBlocks, spatial, block]}, channel {@code c = cb * block + l} at
 * {@code ((n * channelBlocks + cb) * spatial + s) * block + l}. When {@code channels} is not a multiple
 * of {@code block} the last block is padded; padding is written as 0 and never read into statistics.
 *
 * <p>A separate record rather than a fourth {@link NormShape} field, because {@code NormShape}'s
 * components are a published contract that other libraries construct directly.
 *
 * @param batch batch size {@code N}, at least 1
 * @param channels number of channels, at least 1
 * @param spatial product of the spatial dimensions ({@code H*W}), at least 1
 * @param block channels per block, the innermost dimension of the blocked layout, at least 1
 */
public record BlockedShape(int batch, int channels, int spatial, int block) {

  /**
   * Checks the dimensions.
   *
   * @throws IllegalArgumentException if a dimension is below 1, or the padded tensor exceeds
   *     {@code Integer.MAX_VALUE} floats
   */
  public BlockedShape {
    if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
    if (channels < 1) throw new IllegalArgumentException("channels must be >= 1, got " + channels);
    if (spatial < 1) throw new IllegalArgumentException("spatial must be >= 1, got " + spatial);
    if (block < 1) throw new IllegalArgumentException("block must be >= 1, got " + block);
    // In long, overflow-checked: channels + block - 1 alone wraps an int for channels near Integer.MAX_VALUE,
    // and a wrapped product would pass a size check and give a negative size().
    long padded = (channels + (long) block - 1) / block * block;
    long floats;
    try {
      floats = Math.multiplyExact(Math.multiplyExact((long) batch, padded), (long) spatial);
    } catch (ArithmeticException e) {
      floats = Long.MAX_VALUE;
    }
    if (floats > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("blocked tensor of " + batch + "x" + channels + "x" + spatial + " with block " + block
          + " (channels padded to " + padded + ") exceeds Integer.MAX_VALUE floats, the most a float[] holds");
    }
  }

  /**
   * Block = the float lanes of this JVM's vector kernels (8 on AVX2, 16 on AVX-512): nChw8c / nChw16c.
   *
   * @param batch batch size {@code N}, at least 1
   * @param channels number of channels, at least 1
   * @param spatial product of the spatial dimensions ({@code H*W}), at least 1
   * @return the shape with {@code block} = this JVM's float lane count
   */
  public static BlockedShape of(int batch, int channels, int spatial) {
    return new BlockedShape(batch, channels, spatial, BlockedLayout.preferredBlock());
  }

  /**
   * Channel blocks per batch item; the last one is padded when {@code block} does not divide {@code channels}.
   *
   * @return {@code ceil(channels / block)}
   */
  public int channelBlocks() {
    return (int) ((channels + (long) block - 1) / block); // long: channels + block - 1 may pass Integer.MAX_VALUE
  }

  /**
   * Floats in the blocked tensor, padding included.
   *
   * @return {@code batch * channelBlocks() * block * spatial}
   */
  public int size() {
    return batch * channelBlocks() * spatial * block;
  }

  /**
   * Elements per channel that statistics run over.
   *
   * @return {@code batch * spatial}
   */
  public long countPerChannel() {
    return (long) batch * spatial;
  }
}
