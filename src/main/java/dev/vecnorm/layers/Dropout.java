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
  private int[] lastShape;

  /**
   * A dropout layer with a generated name.
   *
   * @param rate fraction of the inputs set to 0 in training, in [0, 1)
   * @param seed seed of the dropout masks: same seed, same masks
   */
  public Dropout(double rate, long seed) {
    this(rate, seed, "dropout" + (counter++ == 0 ? "" : "_" + (counter - 1)));
  }

  /**
   * A dropout layer.
   *
   * @param rate fraction of the inputs set to 0 in training, in [0, 1)
   * @param seed seed of the dropout masks: same seed, same masks
   * @param name the layer name; not null
   */
  public Dropout(double rate, long seed, String name) {
    super(name);
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
    lastShape = input.shape();
    float keep = (float) (1 / (1 - rate));
    for (int i = 0; i < x.length; i++) {
      lastScale[i] = !training || random.nextDouble() >= rate ? (training ? keep : 1f) : 0f;
      y[i] = x[i] * lastScale[i];
    }
    return new Tensor(input.shape(), y);
  }

  @Override
  public Tensor backward(Tensor gradOutput) {
    checkGradient(lastShape, gradOutput);
    float[] dy = gradOutput.data(), dx = new float[dy.length];
    for (int i = 0; i < dy.length; i++) dx[i] = dy[i] * lastScale[i];
    return new Tensor(gradOutput.shape(), dx);
  }

  /**
   * Keras's config; {@code noise_shape} may only be null (one mask element per input element).
   *
   * @param c the layer's Keras config
   * @return the layer
   */
  public static Dropout fromConfig(Map<String, ?> c) {
    Configs.checkKeys(c, "Dropout", Configs.keys(Configs.BASE_KEYS, "rate", "seed", "noise_shape"));
    Configs.requireNull(c, "Dropout", "noise_shape");
    double rate = Configs.num(c, "rate");
    long seed = Configs.seed(c, "seed", 0);
    return Configs.layer(c, () -> new Dropout(rate, seed), name -> new Dropout(rate, seed, name));
  }

  @Override
  public Map<String, Object> getConfig() {
    Map<String, Object> m = new LinkedHashMap<>(super.getConfig());
    m.put("rate", rate);
    m.put("seed", (double) seed);
    return m;
  }
}
