package dev.vecnorm.layers;

/** Keras's {@code Flatten()}: {@code [batch, d1, d2, ...]} to {@code [batch, d1*d2*...]}, sharing the data. */
public final class Flatten extends Layer {
  private static int counter;
  private int[] lastShape;

  public Flatten() {
    super("flatten" + (counter++ == 0 ? "" : "_" + (counter - 1)));
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
    return gradOutput.reshape(lastShape);
  }

  @Override
  public int[] computeOutputShape(int[] s) {
    int f = 1;
    for (int i = 1; i < s.length; i++) f *= s[i];
    return new int[] {s[0], f};
  }
}
