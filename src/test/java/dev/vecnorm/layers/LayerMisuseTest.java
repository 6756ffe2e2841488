package dev.vecnorm.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.model.Sequential;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Layer-level hostile inputs: sizes, configs with bad values, Dense activations. */
class LayerMisuseTest {

  @Test
  void sizesAreCheckedBeforeAllocation() {
    // 65536 * 65536 wraps to 0 in int arithmetic: Flatten used to hand Dense a 0-feature input.
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new Sequential(new Flatten(), new Dense(2)).build(1, 65536, 65536));
    assertTrue(e.getMessage().contains("features"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(-1, 3));
    assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(65536, 65536));
    assertThrows(IllegalArgumentException.class, () -> new Tensor(new int[] {1 << 30, 1 << 30, 1 << 30, 16}, new float[0]));
    Dense d = new Dense(4);
    assertThrows(IllegalArgumentException.class, () -> d.build(new int[] {2, 3, 4}));
    assertFalse(d.isBuilt(), "a rejected build allocates nothing");
    for (int channels : new int[] {Integer.MAX_VALUE, 100_000_000}) {
      BatchNormalization bn = BatchNormalization.create();
      e = assertThrows(IllegalArgumentException.class, () -> bn.build(new int[] {1, channels}));
      assertTrue(e.getMessage().contains(channels + " channels"), e.getMessage());
      assertFalse(bn.isBuilt());
    }
  }

  private static Map<String, Object> denseConfig(Consumer<Map<String, Object>> edit) {
    Map<String, Object> c = new HashMap<>(Dense.builder(3).name("d").build().getConfig());
    edit.accept(c);
    return c;
  }

  @ParameterizedTest
  @ValueSource(strings = {"units=0", "units=-1", "units=3.5", "units=1e10", "units=x", "use_bias=1", "name=5", "dtype=float16",
      "activation=gelu", "activation=5", "kernel_initializer.seed=1.5", "kernel_initializer.sed=1", "bias_regularizer.l3=1",
      "bias_constraint.axis=1", "trainable=yes"})
  void badDenseConfigValuesAreRejectedByName(String edit) {
    String key = edit.substring(0, edit.indexOf('=')), raw = edit.substring(edit.indexOf('=') + 1);
    Object value = raw.matches("-?[0-9.e]+") ? (Object) Double.valueOf(raw) : raw;
    Map<String, Object> c = denseConfig(m -> {
      switch (key) {
        case "kernel_initializer.seed", "kernel_initializer.sed" ->
            m.put("kernel_initializer", Map.of("class_name", "GlorotUniform", "config", Map.of(key.substring(19), value)));
        case "bias_regularizer.l3" -> m.put("bias_regularizer", Map.of("class_name", "L2", "config", Map.of("l3", value)));
        case "bias_constraint.axis" -> m.put("bias_constraint", Map.of("class_name", "UnitNorm", "config", Map.of("axis", value)));
        default -> m.put(key, value);
      }
    });
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Dense.fromConfig(c));
    String named = key.contains(".") ? key.substring(key.indexOf('.') + 1) : key;
    assertTrue(e.getMessage().contains(named) || e.getMessage().contains(raw), edit + ": " + e.getMessage());
  }

  @Test
  void otherLayerConfigsAreStrictToo() {
    Map<String, Object> bn = new HashMap<>(BatchNormalization.create().getConfig());
    bn.put("moving_variance_mode", "sample");
    assertTrue(assertThrows(IllegalArgumentException.class, () -> BatchNormalization.fromConfig(bn)).getMessage().contains("moving_variance_mode"));
    bn.put("moving_variance_mode", "biased");
    bn.put("momentum", Double.NaN);
    assertThrows(IllegalArgumentException.class, () -> BatchNormalization.fromConfig(bn));
    assertThrows(IllegalArgumentException.class, () -> Dropout.fromConfig(Map.of("rate", 1.0)));
    assertThrows(IllegalArgumentException.class, () -> Dropout.fromConfig(Map.of("rate", 0.5, "noise_shape", List.of(1.0))));
    assertThrows(IllegalArgumentException.class, () -> Flatten.fromConfig(Map.of("data_format", "channels_first")));
    assertThrows(IllegalArgumentException.class, () -> Activation.fromConfig("ReLU", Map.of("max_value", 6.0)));
    assertThrows(IllegalArgumentException.class, () -> Activation.fromConfig("Softmax", Map.of("axis", 1.0)));
    assertThrows(IllegalArgumentException.class, () -> Initializer.constant(Double.NaN));
    assertThrows(IllegalArgumentException.class, () -> Initializer.randomNormal(0, -1, 0));
  }

  /** Dense(act): forward equals act(x W + b) in double; dx matches central differences of sum(y * r). */
  @ParameterizedTest
  @ValueSource(strings = {"relu", "sigmoid", "tanh", "softmax"})
  void denseActivationsForwardAndBackward(String act) {
    int n = 5, in = 4, units = 3;
    SplittableRandom r = new SplittableRandom(act.hashCode());
    float[] x = new float[n * in], proj = new float[n * units];
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
    for (int i = 0; i < proj.length; i++) proj[i] = (float) r.nextGaussian();
    Dense d = Dense.builder(units).activation(act).biasInitializer(Initializer.constant(0.1)).kernelInitializer(Initializer.glorotUniform(5)).build();
    Tensor y = d.call(new Tensor(new int[] {n, in}, x), true);
    float[] w = d.getWeights().get(0);
    for (int i = 0; i < n; i++) {
      double[] z = new double[units];
      double max = Double.NEGATIVE_INFINITY, sum = 0;
      for (int j = 0; j < units; j++) {
        z[j] = 0.1;
        for (int k = 0; k < in; k++) z[j] += (double) x[i * in + k] * w[k * units + j];
        max = Math.max(max, z[j]);
      }
      for (int j = 0; j < units; j++) sum += Math.exp(z[j] - max);
      for (int j = 0; j < units; j++) {
        double expected = switch (act) {
          case "relu" -> Math.max(0, z[j]);
          case "sigmoid" -> 1 / (1 + Math.exp(-z[j]));
          case "tanh" -> Math.tanh(z[j]);
          default -> Math.exp(z[j] - max) / sum;
        };
        assertEquals(expected, y.data()[i * units + j], 1e-5, act + " y[" + i + "][" + j + "]");
      }
    }
    float[] dx = d.backward(new Tensor(new int[] {n, units}, proj)).data();
    for (int i = 0; i < x.length; i++) {
      float saved = x[i];
      x[i] = saved + 1e-3f;
      double up = dot(d.call(new Tensor(new int[] {n, in}, x), false).data(), proj);
      x[i] = saved - 1e-3f;
      double down = dot(d.call(new Tensor(new int[] {n, in}, x), false).data(), proj);
      x[i] = saved;
      assertEquals((up - down) / 2e-3, dx[i], 2e-2, act + " dx[" + i + "]");
    }
    assertEquals(act, Dense.fromConfig(d.getConfig()).activation());
  }

  private static double dot(float[] a, float[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) s += (double) a[i] * b[i];
    return s;
  }

  @Test
  void denseRejectsNormConstraintsOnTheKernelButHonoursNonNeg() {
    assertThrows(IllegalArgumentException.class, () -> Dense.builder(2).kernelConstraint(Constraint.maxNorm(1)));
    Dense d = Dense.builder(2).kernelConstraint(Constraint.nonNeg()).biasConstraint(Constraint.unitNorm()).build();
    d.build(new int[] {1, 3});
    for (Parameter p : d.parameters()) {
      java.util.Arrays.fill(p.value(), -1f);
      p.applyConstraint();
    }
    assertArrayEquals(new float[6], d.getWeights().get(0));
    float[] b = d.getWeights().get(1);
    assertEquals(1.0, Math.hypot(b[0], b[1]), 1e-6);
  }
}
