package dev.vecnorm.layers;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/** Keras's {@code Dropout(rate, seed)}: in training, zero a fraction {@code rate} and scale the rest by {@code 1/(1-rate)}. */
public final class Dropout extends Layer {
  private static int counter;
  private final double rate;
  private final long seed;
  private final SplittableRandom random;
  private float[] lastScale;

  public Dropout(double rate, long seed) {
    super("dropout" + (counter++ == 0 ? "" : "_" + (counter - 1)));
    if (!(rate >= 0 && rate < 1)) throw new IllegalArgumentException("rate must be in [0, 1), got " + rate);
    this.rate = rate;
    this.seed = seed;
    this.random = new SplittableRandom(seed);
  }

  @Override
  protected void doBuild(int[] inputShape) {}

  @Override
  protected Tensor forward(Tensor input, boolean training) {
    float[] x = input.data(), y = new float[x.length];
    lastScale = new float[x.length];
    float keep = (float) (1 / (1 - rate));
    for (int i = 0; i < x.length; i++) {
      lastScale[i] = !training || random.nextDouble() >= rate ? (training ? keep : 1f) : 0f;
      y[i] = x[i] * lastScale[i];
    }
    return new Tensor(input.shape(), y);
  }

  @Override
  public Tensor backward(Tensor gradOutput) {
    float[] dy = gradOutput.data(), dx = new float[dy.length];
    for (int i = 0; i < dy.length; i++) dx[i] = dy[i] * lastScale[i];
    return new Tensor(gradOutput.shape(), dx);
  }

  @Override
  public Map<String, Object> getConfig() {
    Map<String, Object> m = new LinkedHashMap<>(super.getConfig());
    m.put("rate", rate);
    m.put("seed", (double) seed);
    return m;
  }
}
