package dev.vecnorm.demo;

import dev.vecnorm.layers.Activation;
import dev.vecnorm.layers.BatchNormalization;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.Dropout;
import dev.vecnorm.layers.Initializer;
import dev.vecnorm.layers.Layer;
import dev.vecnorm.layers.Parameter;
import dev.vecnorm.model.Callback;
import dev.vecnorm.model.FitOptions;
import dev.vecnorm.model.History;
import dev.vecnorm.model.Loss;
import dev.vecnorm.model.Optimizer;
import dev.vecnorm.model.Sequential;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One training run of the demo: the network, its optimizer, and what it measured. Runs are
 * independent and seeded, so they may run on any thread in any order and give the same numbers.
 */
final class Training {

  /** The networks the experiments use. Hidden layers: Dense, then BN when asked, then the activation, then Dropout when asked. */
  enum Net {
    /** Ioffe and Szegedy's MNIST net (2015, Fig. 1): three hidden sigmoid layers of 100 units. */
    SIGMOID_3X100(new int[] {100, 100, 100}, Activation.Kind.SIGMOID, "sigmoid MLP 3x100"),
    /** Deep enough for sigmoid gradients to vanish: ten hidden layers of 64 units. */
    SIGMOID_10X64(new int[] {64, 64, 64, 64, 64, 64, 64, 64, 64, 64}, Activation.Kind.SIGMOID, "sigmoid MLP 10x64"),
    /** Wide enough to overfit a small training set with Adam. */
    RELU_2X256(new int[] {256, 256}, Activation.Kind.RELU, "ReLU MLP 2x256");

    final int[] widths;
    final Activation.Kind activation;
    final String description;

    Net(int[] widths, Activation.Kind activation, String description) {
      this.widths = widths;
      this.activation = activation;
      this.description = description;
    }
  }

  /**
   * What to train. {@code initScale} multiplies every Dense kernel after the Glorot initialization;
   * {@code adam} selects Adam instead of plain SGD; {@code gradientNorms} records each Dense kernel's
   * gradient norm about 20 times per epoch.
   */
  record Spec(String experiment, Net net, boolean batchNorm, double dropout, double lr, boolean adam, double initScale,
              int epochs, int trainSize, boolean gradientNorms) {
    String label() {
      String s = batchNorm ? (dropout > 0 ? "BN + Dropout" : "BN") : (dropout > 0 ? "Dropout" : "no BN");
      if (dropout == 0 && !batchNorm && experiment.equals("regularization")) s = "neither";
      return s;
    }

    String describe() {
      return String.format(Locale.ROOT, "%s, %s%s, %s lr %s%s, %d epochs on %d samples", net.description, label(),
          dropout > 0 ? " (rate " + dropout + ")" : "", adam ? "Adam" : "SGD", Fmt.number(lr),
          initScale == 1 ? "" : ", initial weights x" + Fmt.number(initScale), epochs, trainSize);
    }
  }

  /**
   * What a run measured. {@code trainAccuracy} is measured after training in inference mode (no
   * Dropout, BN on its moving averages), as the test accuracy is, so that their difference is the
   * generalization gap and not a train/inference mode artifact. {@code gradientNorms[layer][sample]}
   * with {@code gradientEpochs[sample]} the (fractional) epoch of each sample.
   */
  record Result(Spec spec, History history, double trainAccuracy, double testAccuracy, double[][] gradientNorms,
                double[] gradientEpochs, double seconds, String log) {
    List<Double> validationAccuracy() {
      return history.get("val_accuracy");
    }

    /**
     * Mean validation accuracy over the last {@link #FINAL_EPOCHS} epochs: with BN at large rates the
     * accuracy moves by a few points from one epoch to the next, and one epoch's value would decide on noise.
     */
    double finalValidationAccuracy() {
      List<Double> v = validationAccuracy();
      if (v.isEmpty()) return Double.NaN;
      int from = Math.max(0, v.size() - FINAL_EPOCHS);
      double sum = 0;
      for (int e = from; e < v.size(); e++) sum += v.get(e);
      return sum / (v.size() - from);
    }

    /** First epoch (1-based) whose validation accuracy reaches {@code target}, or -1. */
    int epochsTo(double target) {
      List<Double> v = validationAccuracy();
      for (int e = 0; e < v.size(); e++) if (v.get(e) >= target) return e + 1;
      return -1;
    }
  }

  /** "Final accuracy" averages this many last epochs. */
  static final int FINAL_EPOCHS = 3;

  /** Gradient norms are sampled about this many times per epoch: enough points for a curve, little overhead. */
  static final int GRADIENT_SAMPLES_PER_EPOCH = 20;

  private Training() {}

  static Sequential model(Spec spec) {
    Sequential m = new Sequential();
    int[] widths = spec.net().widths;
    for (int i = 0; i < widths.length; i++) {
      // Same seeds with and without BN: the nets start from the same weights. BN's beta replaces the bias.
      m.add(new Dense(widths[i], !spec.batchNorm(), Initializer.glorotUniform(100 + i), Initializer.zeros(), null, "dense_" + i));
      // momentum 0.9, not Keras's 0.99: with ~100 steps per epoch the 0.99 moving averages still
      // weigh their initial values after several epochs, and inference-mode accuracy lags training.
      if (spec.batchNorm()) m.add(BatchNormalization.builder().momentum(0.9).name("batch_normalization_" + i).build());
      m.add(new Activation(spec.net().activation, spec.net().activation.name().toLowerCase(Locale.ROOT) + "_" + i));
      if (spec.dropout() > 0) m.add(new Dropout(spec.dropout(), 300 + i));
    }
    m.add(new Dense(10, true, Initializer.glorotUniform(200), Initializer.zeros(), null, "logits"));
    return m;
  }

  /** Trains one spec. {@code verbose} is fit's (0 silent, 1 bar, 2 one line per epoch); the log goes to {@code out}, or is kept in the result when {@code out} is null. */
  static Result run(Spec spec, FashionMnist.Split train, FashionMnist.Split validation, FashionMnist.Split test, int batchSize,
                    PrintStream out, int verbose) {
    FashionMnist.Split data = train.size() > spec.trainSize() ? train.rows(0, spec.trainSize()) : train;
    ByteArrayOutputStream buffer = new ByteArrayOutputStream();
    PrintStream log = out != null ? out : new PrintStream(buffer, true, StandardCharsets.UTF_8);
    Sequential m = model(spec);
    m.build(batchSize, data.images().dim(1));
    List<Dense> dense = new ArrayList<>();
    for (Layer l : m.layers()) if (l instanceof Dense d) dense.add(d);
    if (spec.initScale() != 1) {
      for (Dense d : dense) {
        float[] w = kernel(d).value();
        for (int i = 0; i < w.length; i++) w[i] *= (float) spec.initScale();
      }
    }
    m.compile(spec.adam() ? Optimizer.adam(spec.lr()) : Optimizer.sgd(spec.lr()), Loss.sparseCategoricalCrossentropy(true), List.of("accuracy"));
    int steps = (data.size() + batchSize - 1) / batchSize;
    GradientRecorder recorder = spec.gradientNorms() ? new GradientRecorder(dense, steps) : null;
    FitOptions options = FitOptions.defaults().epochs(spec.epochs()).batchSize(batchSize)
        .validationData(validation.images(), validation.labels()).seed(42).verbose(verbose).output(log);
    if (recorder != null) options.callback(recorder);
    log.printf(Locale.ROOT, "%n[%s] %s%n", spec.experiment(), spec.describe());
    long start = System.nanoTime();
    History h = m.fit(data.images(), data.labels(), options);
    double seconds = (System.nanoTime() - start) / 1e9;
    double trainAccuracy = accuracy(m.evaluate(data.images(), data.labels(), 256));
    double testAccuracy = accuracy(m.evaluate(test.images(), test.labels(), 256));
    log.printf(Locale.ROOT, "done in %.1fs: train accuracy %.4f, test accuracy %.4f (both in inference mode)%n", seconds, trainAccuracy, testAccuracy);
    return new Result(spec, h, trainAccuracy, testAccuracy, recorder == null ? null : recorder.norms(),
        recorder == null ? null : recorder.epochs(), seconds, buffer.toString(StandardCharsets.UTF_8));
  }

  private static double accuracy(Map<String, Double> scores) {
    return scores.get("accuracy");
  }

  private static Parameter kernel(Dense d) {
    for (Parameter p : d.parameters()) if (p.name().equals("kernel")) return p;
    throw new IllegalStateException(d.name() + " has no kernel");
  }

  /**
   * L2 norm of each Dense kernel's gradient after a step. fit zeroes gradients at the start of the next
   * step, so at onBatchEnd they hold this step's gradient of the loss.
   */
  private static final class GradientRecorder implements Callback {
    private final List<Dense> dense;
    private final int stepsPerEpoch, every;
    private final List<double[]> samples = new ArrayList<>();
    private final List<Double> epochs = new ArrayList<>();
    private int epoch;

    GradientRecorder(List<Dense> dense, int stepsPerEpoch) {
      this.dense = dense;
      this.stepsPerEpoch = stepsPerEpoch;
      this.every = Math.max(1, stepsPerEpoch / GRADIENT_SAMPLES_PER_EPOCH);
    }

    @Override
    public void onEpochBegin(int epoch) {
      this.epoch = epoch;
    }

    @Override
    public void onBatchEnd(int batch, Map<String, Double> logs) {
      if (batch % every != 0) return;
      double[] norms = new double[dense.size()];
      for (int l = 0; l < norms.length; l++) {
        double sum = 0;
        for (float g : kernel(dense.get(l)).grad()) sum += (double) g * g;
        norms[l] = Math.sqrt(sum);
      }
      samples.add(norms);
      epochs.add(epoch + (batch + 1.0) / stepsPerEpoch);
    }

    double[][] norms() {
      double[][] byLayer = new double[dense.size()][samples.size()];
      for (int s = 0; s < samples.size(); s++) for (int l = 0; l < dense.size(); l++) byLayer[l][s] = samples.get(s)[l];
      return byLayer;
    }

    double[] epochs() {
      double[] e = new double[epochs.size()];
      for (int i = 0; i < e.length; i++) e[i] = epochs.get(i);
      return e;
    }
  }
}
