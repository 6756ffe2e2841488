package dev.vecnorm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.layers.Activation;
import dev.vecnorm.layers.Add;
import dev.vecnorm.layers.BatchNormalization;
import dev.vecnorm.layers.Concatenate;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.Initializer;
import dev.vecnorm.layers.Input;
import dev.vecnorm.layers.Layer;
import dev.vecnorm.layers.Parameter;
import dev.vecnorm.layers.SymbolicTensor;
import dev.vecnorm.layers.Tensor;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The functional API: Input, layers applied to symbolic tensors, Model(inputs, outputs), merges and the fused residual tail. */
class FunctionalModelTest {

  static Tensor random(long seed, int... shape) {
    Tensor t = Tensor.zeros(shape);
    SplittableRandom r = new SplittableRandom(seed);
    for (int i = 0; i < t.size(); i++) t.data()[i] = (float) r.nextGaussian();
    return t;
  }

  /** Dense -> BN -> Add(skip) -> ReLU -> Dense(softmax): the residual block of the issue. */
  record Block(Dense dense, BatchNormalization bn, Add add, Activation relu, Dense head) {
    static Block create(String suffix) {
      return new Block(Dense.builder(8).name("d" + suffix).kernelInitializer(Initializer.glorotUniform(5)).build(),
          BatchNormalization.builder().name("bn" + suffix).momentum(0.9).build(), new Add("add" + suffix),
          new Activation(Activation.Kind.RELU, "relu" + suffix),
          Dense.builder(3).activation("softmax").name("head" + suffix).kernelInitializer(Initializer.glorotUniform(6)).build());
    }

    Model model() {
      SymbolicTensor x = Input.shape(8);
      SymbolicTensor h = bn.apply(dense.apply(x));
      SymbolicTensor y = relu.apply(add.apply(h, x));
      return new Model(x, head.apply(y));
    }

    List<Layer> layers() {
      return List.of(dense, bn, head);
    }
  }

  @Test
  void residualBlockRunsFusedAndMatchesTheLayersCalledOneByOne() {
    Block a = Block.create("_a"), b = Block.create("_b");
    Model model = a.model();
    assertEquals(1, model.fusedBlocks(), "BN + Add + ReLU fused");
    b.model(); // builds b's layers for the same shapes
    // Gamma, beta and moving statistics away from their initial values, the same in both.
    SplittableRandom r = new SplittableRandom(11);
    for (int i = 0; i < 3; i++) {
      List<float[]> w = a.layers().get(i).getWeights();
      for (float[] v : w) for (int k = 0; k < v.length; k++) v[k] = (float) (0.5 + r.nextDouble());
      a.layers().get(i).setWeights(w);
      b.layers().get(i).setWeights(w);
    }
    Tensor x = random(1, 16, 8);
    Tensor y = new Tensor(new int[] {16}, new float[] {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0});
    model.compile(Optimizer.sgd(0.1), Loss.sparseCategoricalCrossentropy(false), List.of());
    model.trainOnBatch(x, y, null);

    // Reference: the unfused layers, called and differentiated one by one.
    Tensor h = b.dense().call(x, true), n = b.bn().call(h, true);
    Tensor s = b.add().call(List.of(n, x), true), rl = b.relu().call(s, true), out = b.head().call(rl, true);
    float[] grad = new float[out.size()];
    Loss.sparseCategoricalCrossentropy(false).compute(out, y, grad);
    for (Layer l : b.layers()) for (Parameter p : l.parameters()) p.zeroGrad();
    Tensor g = b.relu().backward(b.head().backward(new Tensor(out.shape(), grad)));
    b.dense().backward(b.bn().backward(b.add().backwardAll(g).get(0)));
    for (int i = 0; i < 3; i++) {
      List<Parameter> pa = a.layers().get(i).parameters(), pb = b.layers().get(i).parameters();
      for (int k = 0; k < pa.size(); k++) {
        float[] ga = pa.get(k).grad(), gb = pb.get(k).grad();
        for (int j = 0; j < ga.length; j++) {
          assertEquals(gb[j], ga[j], 1e-5 + 1e-4 * Math.abs(gb[j]), a.layers().get(i).name() + " " + pa.get(k).name() + " grad[" + j + "]");
        }
      }
    }
    // Moving statistics took the same batch statistics.
    assertArrayEquals(b.bn().movingMean(), a.bn().movingMean(), 1e-6f);
    assertArrayEquals(b.bn().movingVariance(), a.bn().movingVariance(), 1e-5f);
    // Inference through the fused kernel equals the layers' inference.
    Tensor xi = random(2, 5, 8);
    for (int i = 0; i < 3; i++) b.layers().get(i).setWeights(a.layers().get(i).getWeights());
    Tensor ref = b.head().call(b.relu().call(b.add().call(List.of(b.bn().call(b.dense().call(xi, false), false), xi), false), false), false);
    assertArrayEquals(ref.data(), model.predict(xi, 5).data(), 1e-5f);
  }

  @Test
  void theKerasSnippetTrainsLikeASequential() {
    // input_bits = Input(shape=(256,)); temp = BatchNormalization()(input_bits); ...
    SymbolicTensor inputBits = Input.shape(16);
    SymbolicTensor temp = BatchNormalization.create().apply(inputBits);
    SymbolicTensor hidden = Dense.builder(16).activation("relu").kernelInitializer(Initializer.glorotUniform(1)).build().apply(temp);
    SymbolicTensor out = Dense.builder(2).activation("softmax").kernelInitializer(Initializer.glorotUniform(2)).build().apply(hidden);
    Model model = new Model(inputBits, out);
    assertArrayEquals(new int[] {2}, out.shape());
    // Two classes by the sign of the first feature (standard normal inputs: after 64 steps the moving
    // statistics of momentum 0.99 are still near their initial 0 and 1, so evaluate sees the same scale).
    Tensor x = random(3, 256, 16);
    float[] labels = new float[256];
    for (int i = 0; i < 256; i++) labels[i] = x.data()[i * 16] > 0 ? 1 : 0;
    Tensor y = new Tensor(new int[] {256}, labels);
    model.compile(Optimizer.adam(0.01), Loss.sparseCategoricalCrossentropy(false), List.of("accuracy"));
    History h = model.fit(x, y, FitOptions.defaults().epochs(8).batchSize(32).seed(4).verbose(0));
    double first = h.history().get("loss").get(0), last = h.history().get("loss").get(7);
    assertTrue(last < first / 2, "loss falls: " + first + " -> " + last);
    assertTrue(model.evaluate(x, y, 64).get("accuracy") > 0.9);
    assertEquals(256, model.predict(x, 100).dim(0));
    assertThrows(IllegalArgumentException.class, () -> model.predict(random(1, 4, 15), 4));
  }

  @Test
  void severalInputsAndOutputsWithConcatenate() {
    SymbolicTensor a = Input.shape(3), b = Input.shape(2);
    SymbolicTensor joined = new Concatenate("cat").apply(a, b);
    assertArrayEquals(new int[] {5}, joined.shape());
    Dense d1 = Dense.builder(4).name("d1").build(), d2 = Dense.builder(1).name("d2").build();
    Model m = new Model(List.of(a, b), List.of(d1.apply(joined), d2.apply(a), joined));
    Tensor xa = new Tensor(new int[] {2, 3}, new float[] {1, 2, 3, 4, 5, 6}), xb = new Tensor(new int[] {2, 2}, new float[] {7, 8, 9, 10});
    List<Tensor> out = m.call(List.of(xa, xb), false);
    assertArrayEquals(new int[] {2, 4}, out.get(0).shape());
    assertArrayEquals(new int[] {2, 1}, out.get(1).shape());
    assertArrayEquals(new float[] {1, 2, 3, 7, 8, 4, 5, 6, 9, 10}, out.get(2).data());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.predict(xa, 2));
    assertTrue(e.getMessage().contains("2 inputs and 3 outputs"), e.getMessage());
    // Concatenate's gradient goes back to each input's columns.
    Concatenate c2 = new Concatenate("c2");
    c2.call(List.of(xa, xb), true);
    List<Tensor> g = c2.backwardAll(out.get(2));
    assertArrayEquals(xa.data(), g.get(0).data());
    assertArrayEquals(xb.data(), g.get(1).data());
  }

  @Test
  void graphMistakesAreNamed() {
    SymbolicTensor x = Input.shape(4);
    Dense shared = Dense.builder(4).name("shared").build();
    SymbolicTensor twice = shared.apply(shared.apply(x));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> new Model(x, twice)).getMessage().contains("'shared'"));
    SymbolicTensor other = Input.shape(4);
    SymbolicTensor sum = new Add("sum").apply(x, other);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> new Model(x, sum)).getMessage().contains("not among the model's inputs"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Add("bad").apply(x, Input.shape(5)));
    assertTrue(e.getMessage().contains("bad") && e.getMessage().contains("[1, 5]"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Dense.builder(2).build().apply(Input.shape(2, 3)));
  }

  @Test
  void functionalModelSavesAndLoadsWithModelIO(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws java.io.IOException {
    Block a = Block.create("_io");
    Model model = a.model();
    SplittableRandom r = new SplittableRandom(12);
    for (Layer l : a.layers()) for (Parameter p : l.parameters()) for (int i = 0; i < p.value().length; i++) p.value()[i] = (float) (0.5 + r.nextDouble());
    ModelIO.save(model, dir);
    Model back = ModelIO.loadModel(dir);
    assertEquals(1, back.fusedBlocks());
    Tensor x = random(3, 4, 8);
    assertArrayEquals(model.predict(x, 4).data(), back.predict(x, 4).data(), 0f);
    java.io.IOException e = assertThrows(java.io.IOException.class, () -> ModelIO.load(dir));
    assertTrue(e.getMessage().contains("loadModel"), e.getMessage());
  }
}
