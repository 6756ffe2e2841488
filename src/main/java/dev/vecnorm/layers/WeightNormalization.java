package dev.vecnorm.layers;

import dev.vecnorm.BatchNorm;
import dev.vecnorm.MatMul;
import dev.vecnorm.Moments;
import dev.vecnorm.NormShape;
import dev.vecnorm.WeightNorm;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * {@code tfa.layers.WeightNormalization} around a {@link Dense}: the Dense kernel becomes the direction
 * {@code v} ({@code [in, units]}) and the layer computes with {@code w = g * v / ||v||} per output unit
 * (the norm over the input axis of each column, floored as {@code tf.nn.l2_normalize}: see
 * {@link WeightNorm}), with a trainable {@code g} of {@code units} elements. Gradients flow to
 * {@code v}, {@code g} and the Dense's bias; the Dense's kernel regularizer and constraint apply to
 * {@code v}, its bias ones to the bias, as in tfa (they are the wrapped layer's own weights).
 *
 * <p>On the first call (training or not) the layer initializes {@code g}, as tfa does:
 * <ul>
 *   <li>{@code dataInit = false}: {@code g = ||v||} per column, so the layer starts as the plain Dense.</li>
 *   <li>{@code dataInit = true} (tfa's default): tfa's data-dependent initialization on that first
 *       batch: {@code t = x v + b} with the raw kernel {@code v} and the current bias (tfa's "naked
 *       clone", no activation), {@code m, s²} the per-unit mean and biased variance of {@code t} over
 *       the batch, then {@code g = g * 1/sqrt(s² + 1e-10)} (g starts at ones) and
 *       {@code bias = -m / sqrt(s² + 1e-10)}. tfa, unlike the paper (which takes the moments of
 *       {@code x v / ||v||}), uses the raw {@code v}, so the first outputs have per-unit standard
 *       deviation {@code 1 / ||v||}; this layer reproduces tfa.</li>
 * </ul>
 * A non-trainable {@code initialized} weight (0 or 1) records it, so a layer whose weights were set
 * or loaded is not initialized again. Weights in tf.keras 2's order: {@code g}, {@code kernel} (v),
 * {@code bias}, {@code initialized}.
 *
 * <p>Config: tfa's keys {@code layer} ({@code {"class_name": "Dense", "config": {...}}}) and
 * {@code data_init}. Keras 3 has no such layer, so {@link #kerasConfig()} refuses it.
 */
public final class WeightNormalization extends Layer {
  private static int counter;
  private final Dense layer;
  private final boolean dataInit;
  private Parameter g, initialized;
  private int inputDim;
  /** The kernel the Dense computes with, its gradient, and backward's dv and dg. */
  private float[] w, dw, dv, dg;

  /**
   * tfa's {@code WeightNormalization(layer)}: data-dependent initialization on.
   *
   * @param layer the Dense to wrap, not built yet; not null
   */
  public WeightNormalization(Dense layer) {
    this(layer, true, null);
  }

  /**
   * tfa's {@code WeightNormalization(layer, data_init=dataInit)}.
   *
   * @param layer the Dense to wrap, not built yet; not null
   * @param dataInit true for tfa's data-dependent initialization of g and the bias on the first batch
   */
  public WeightNormalization(Dense layer, boolean dataInit) {
    this(layer, dataInit, null);
  }

  /**
   * tfa's {@code WeightNormalization(layer, data_init=dataInit, name=name)}.
   *
   * @param layer the Dense to wrap, not built yet; not null
   * @param dataInit true for tfa's data-dependent initialization of g and the bias on the first batch
   * @param name the layer name, or null for a generated one
   */
  public WeightNormalization(Dense layer, boolean dataInit, String name) {
    super(name != null ? name : "weight_normalization" + (counter++ == 0 ? "" : "_" + (counter - 1)));
    this.layer = Objects.requireNonNull(layer, "layer");
    if (layer.isBuilt()) {
      throw new IllegalArgumentException(name() + ": wrap a Dense that is not built yet (" + layer.name() + " is built)");
    }
    this.dataInit = dataInit;
    this.trainable = layer.isTrainable();
  }

  /**
   * The wrapped layer, whose kernel weight is the direction v.
   *
   * @return the Dense
   */
  public Dense layer() {
    return layer;
  }

  /**
   * tfa's {@code data_init}.
   *
   * @return whether the first batch initializes g and the bias
   */
  public boolean dataInit() {
    return dataInit;
  }

  /**
   * The live per-unit scale g.
   *
   * @return {@code float[units]}, or null before build
   */
  public float[] g() {
    return g == null ? null : g.value();
  }

  /**
   * The kernel the last call computed with, {@code g * v / ||v||}.
   *
   * @return a copy, {@code [in * units]} row-major, or null before build
   */
  public float[] effectiveKernel() {
    return w == null ? null : w.clone();
  }

  /**
   * Whether g (and with {@code dataInit} the bias) has been initialized.
   *
   * @return true after the first call or after weights were set with {@code initialized = 1}
   */
  public boolean isInitialized() {
    return initialized != null && initialized.value()[0] != 0;
  }

  @Override
  public void setTrainable(boolean trainable) {
    super.setTrainable(trainable);
    layer.setTrainable(trainable);
  }

  @Override
  protected void checkBuildable(int[] inputShape) {
    layer.checkInputShape(inputShape);
  }

  @Override
  protected void checkCompatible(int[] inputShape) {
    layer.checkInputShape(inputShape);
  }

  @Override
  protected void doBuild(int[] inputShape) {
    layer.build(inputShape);
    inputDim = inputShape[1];
    int units = layer.units(), n = inputDim * units;
    float[] ones = new float[units];
    Arrays.fill(ones, 1f);
    g = new Parameter("g", ones, true, null, null);
    initialized = new Parameter("initialized", new float[1], false, null, null);
    w = new float[n];
    dw = new float[n];
    dv = new float[n];
    dg = new float[units];
    layer.useDerivedKernel(w, dw);
  }

  @Override
  protected Tensor forward(Tensor input, boolean training) {
    float[] v = kernel().value();
    int units = layer.units();
    if (!isInitialized()) {
      if (dataInit) dataDependentInit(input);
      else WeightNorm.forward(inputDim, units, v, 0, null, w, 0, g.value()); // g = ||v||
      initialized.value()[0] = 1;
    }
    WeightNorm.forward(inputDim, units, v, 0, g.value(), w, 0, null);
    return layer.call(input, training);
  }

  /** tfa's {@code _data_dep_init}: moments of {@code x v + b} over the batch set g and the bias. */
  private void dataDependentInit(Tensor input) {
    int batch = input.dim(0), units = layer.units();
    if (batch < 1) throw new IllegalArgumentException(name() + ": data-dependent initialization needs a batch of at least one sample, got 0");
    float[] t = new float[batch * units];
    Parameter bias = bias();
    if (bias != null) for (int i = 0; i < batch; i++) System.arraycopy(bias.value(), 0, t, i * units, units);
    MatMul.multiply(input.data(), kernel().value(), t, batch, inputDim, units, bias != null);
    Moments moments = new Moments(units);
    BatchNorm.moments(NormShape.channelsLast(batch, units), t, 0, moments);
    for (int c = 0; c < units; c++) {
      double scale = 1 / Math.sqrt(moments.m2(c) / moments.count() + 1e-10);
      g.value()[c] = (float) (g.value()[c] * scale);
      if (bias != null) bias.value()[c] = (float) (-moments.mean(c) * scale);
    }
  }

  @Override
  public Tensor backward(Tensor gradOutput) {
    if (dw == null) checkGradient(null, gradOutput); // never called: IllegalStateException
    Arrays.fill(dw, 0f);
    Tensor dx = layer.backward(gradOutput); // dy -> dx, the bias gradient, and dW into dw
    if (trainable) {
      WeightNorm.backward(inputDim, layer.units(), kernel().value(), 0, dw, 0, g.value(), dv, 0, dg);
      float[] vGrad = kernel().grad(), gGrad = g.grad();
      for (int i = 0; i < dv.length; i++) vGrad[i] += dv[i];
      for (int c = 0; c < dg.length; c++) gGrad[c] += dg[c];
    }
    return dx;
  }

  private Parameter kernel() {
    return layer.parameters().get(0);
  }

  private Parameter bias() {
    List<Parameter> p = layer.parameters();
    return p.size() > 1 ? p.get(1) : null;
  }

  @Override
  public int[] computeOutputShape(int[] inputShape) {
    return layer.computeOutputShape(inputShape);
  }

  @Override
  public List<Parameter> parameters() {
    List<Parameter> p = new ArrayList<>();
    if (g == null) return p;
    p.add(g);
    p.addAll(layer.parameters());
    p.add(initialized);
    return p;
  }

  /**
   * The wrapped Dense's kernel (on v) and bias regularization losses, with their gradients added.
   *
   * @return the sum of the penalties, 0 when frozen or unregularized
   */
  public double regularizationLoss() {
    return trainable ? layer.regularizationLoss() : 0;
  }

  /** tfa's config: the base keys, {@code layer} as Keras serializes a layer, and {@code data_init}. */
  @Override
  public Map<String, Object> getConfig() {
    Map<String, Object> m = new LinkedHashMap<>(super.getConfig());
    Map<String, Object> inner = new LinkedHashMap<>();
    inner.put("class_name", "Dense");
    inner.put("config", layer.getConfig());
    m.put("layer", inner);
    m.put("data_init", dataInit);
    return m;
  }

  /**
   * Always throws: Keras 3 has no WeightNormalization (tfa's is Keras 2 only), so a Keras 3 file with
   * this layer could not be loaded. Save with {@code ModelIO} instead.
   */
  @Override
  public Map<String, Object> kerasConfig() {
    throw new IllegalStateException(name() + ": WeightNormalization (tfa.layers.WeightNormalization, tf.keras 2 only) has no Keras 3"
        + " equivalent; save with ModelIO, or export a Dense whose kernel is effectiveKernel()");
  }

  private static final List<String> CONFIG_KEYS = Configs.keys(Configs.BASE_KEYS, "layer", "data_init");
  private static final List<String> LAYER_KEYS = List.of("class_name", "config", "module", "registered_name", "build_config");

  /**
   * Inverse of {@link #getConfig()}, and tfa's own config (also under class name
   * {@code Addons>WeightNormalization}); only a wrapped {@code Dense} is supported.
   *
   * @param c the layer's config; not null
   * @return the layer, not built
   */
  @SuppressWarnings("unchecked")
  public static WeightNormalization fromConfig(Map<String, ?> c) {
    Objects.requireNonNull(c, "config");
    Configs.checkKeys(c, "WeightNormalization", CONFIG_KEYS);
    Configs.checkDtype(c);
    Map<?, ?> inner = Configs.map(c.get("layer"), "WeightNormalization config key 'layer'");
    Configs.checkKeys(inner, "WeightNormalization's layer", LAYER_KEYS);
    if (!"Dense".equals(inner.get("class_name"))) {
      throw new IllegalArgumentException("WeightNormalization wraps only Dense here, got layer class " + inner.get("class_name"));
    }
    Dense dense = Dense.fromConfig((Map<String, ?>) Configs.map(inner.get("config"), "WeightNormalization's layer config"));
    WeightNormalization wn = new WeightNormalization(dense, Configs.bool(c, "data_init", true), Configs.str(c, "name", null));
    wn.setTrainable(Configs.bool(c, "trainable", true));
    return wn;
  }
}
