package dev.vecnorm.layers;

import java.util.Map;

/** Keras's {@code Flatten()}: {@code [batch, d1, d2, ...]} to {@code [batch, d1*d2*...]}, sharing the data. */
public final class Flatten extends Layer {
  private static int counter;
  private int[] lastShape;

  /** A {@code Flatten} layer with a generated name. */
  public Flatten() {
    this("flatten" + (counter++ == 0 ? "" : "_" + (counter - 1)));
  }

  /**
   * A {@code Flatten} layer.
   *
   * @param name the layer name; not null
   */
  public Flatten(String name) {
    super(name);
  }

  /**
   * Keras's config; {@code data_format} may only be {@code channels_last} (the layout here).
   *
   * @param c the layer's Keras config
   * @return the layer
   */
  public static Flatten fromConfig(Map<String, ?> c) {
    Configs.checkKeys(c, "Flatten", Configs.keys(Configs.BASE_KEYS, "data_format"));
    String format = Configs.str(c, "data_format", "channels_last");
    if (!format.equals("channels_last")) throw new IllegalArgumentException("Flatten: data_format must be channels_last, got " + format);
    return Configs.layer(c, Flatten::new, Flatten::new);
  }

  @Override
  protected void doBuild(int[] inputShape) {}

  @Override
  protected Tensor forward(Tensor input, boolean training) {
    lastShape = input.shape();
    return input.reshape(input.dim(0), input.size() / Math.max(1, input.dim(0)));
  }

  @Override
  public Tensor backward(Tensor gradOutput) {
    checkGradient(lastShape == null ? null : computeOutputShape(lastShape), gradOutput);
    return gradOutput.reshape(lastShape);
  }

  /** The flattened width must fit an int (and so an array row): checked whether built or not. */
  @Override
  protected void checkBuildable(int[] inputShape) {
    if (inputShape.length < 1) throw new IllegalArgumentException(name() + ": Flatten needs a batch dimension, got a scalar");
    long width = 1;
    for (int i = 1; i < inputShape.length; i++) {
      width *= inputShape[i];
      if (width > Integer.MAX_VALUE) {
        throw new IllegalArgumentException(name() + ": flattening " + java.util.Arrays.toString(inputShape) + " gives more than "
            + Integer.MAX_VALUE + " features");
      }
    }
  }

  @Override
  protected void checkCompatible(int[] inputShape) {
    checkBuildable(inputShape);
  }

  @Override
  public int[] computeOutputShape(int[] s) {
    int f = 1;
    for (int i = 1; i < s.length; i++) f *= s[i];
    return new int[] {s[0], f};
  }
}
