package dev.vecnorm;

/**
 * oneDNN's blocked channels layout {@code nChw[L]c}: a tensor of {@code batch x channels x spatial}
 * stored as {@code [batch, channelBlocks, spatial, block]}, channel {@code c = cb * block + l} at
 * {@code ((n * channelBlocks + cb) * spatial + s) * block + l}. When {@code channels} is not a multiple
 * of {@code block} the last block is padded; padding is written as 0 and never read into statistics.
 *
 * <p>A separate record rather than a fourth {@link NormShape} field, because {@code NormShape}'s
 * components are a published contract that other libraries construct directly.
 */
public record BlockedShape(int batch, int channels, int spatial, int block) {

  public BlockedShape {
    if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
    if (channels < 1) throw new IllegalArgumentException("channels must be >= 1, got " + channels);
    if (spatial < 1) throw new IllegalArgumentException("spatial must be >= 1, got " + spatial);
    if (block < 1) throw new IllegalArgumentException("block must be >= 1, got " + block);
    if ((long) batch * ((channels + block - 1) / block) * spatial * block > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("blocked tensor of " + batch + "x" + channels + "x" + spatial + " with block " + block
          + " exceeds Integer.MAX_VALUE floats");
    }
  }

  /** Block = the float lanes of this JVM's vector kernels (8 on AVX2, 16 on AVX-512): nChw8c / nChw16c. */
  public static BlockedShape of(int batch, int channels, int spatial) {
    return new BlockedShape(batch, channels, spatial, BlockedLayout.preferredBlock());
  }

  public int channelBlocks() {
    return (channels + block - 1) / block;
  }

  /** Floats in the blocked tensor, padding included. */
  public int size() {
    return batch * channelBlocks() * spatial * block;
  }

  /** Elements per channel that statistics run over. */
  public long countPerChannel() {
    return (long) batch * spatial;
  }
}
