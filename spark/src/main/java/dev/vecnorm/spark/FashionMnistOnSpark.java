package dev.vecnorm.spark;

import dev.vecnorm.io.Idx;
import dev.vecnorm.layers.Activation;
import dev.vecnorm.layers.BatchNormalization;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.Initializer;
import dev.vecnorm.layers.Tensor;
import dev.vecnorm.model.FitOptions;
import dev.vecnorm.model.History;
import dev.vecnorm.model.Loss;
import dev.vecnorm.model.Optimizer;
import dev.vecnorm.model.Sequential;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * The demo's Fashion-MNIST MLP (784-100-100-100-10, sigmoid, BN before each activation, SGD lr 0.1, batch 64)
 * trained data-parallel on a Spark cluster with synchronized BN, then evaluated on the test set on the driver.
 * {@code --single} trains the same model the same way in one JVM without Spark, for the time per step of one machine.
 *
 * <pre>
 * spark-submit --class dev.vecnorm.spark.FashionMnistOnSpark --master spark://host:7077 \
 *   --num-executors 2 --executor-cores 1 ... vecnorm-spark.jar --data /shared/fashion-mnist --replicas 2
 * </pre>
 *
 * Each replica reads its slice of the IDX files itself, so {@code --data} must be readable on every executor
 * (a shared file system). Options: {@code --data DIR} (train-/t10k-images-idx3-ubyte[.gz] and labels; required),
 * {@code --replicas R} (2), {@code --epochs E} (1), {@code --batch B} (global batch, 64), {@code --limit N}
 * (training rows, all by default), {@code --single}, {@code --master URL} (when not given by spark-submit).
 */
public final class FashionMnistOnSpark {
  private FashionMnistOnSpark() {}

  /**
   * The demo's MLP, compiled as the demo compiles it.
   *
   * @param synchronize whether the BN layers are synchronized across replicas
   * @return the compiled model
   */
  public static Sequential model(boolean synchronize) {
    Sequential m = new Sequential();
    for (int i = 0; i < 3; i++) {
      m.add(new Dense(100, false, Initializer.glorotUniform(100 + i), Initializer.zeros(), null, "dense_" + i));
      m.add(BatchNormalization.builder().momentum(0.9).isSynchronized(synchronize).name("batch_normalization_" + i).build());
      m.add(new Activation(Activation.Kind.SIGMOID, "sigmoid_" + i));
    }
    m.add(new Dense(10, true, Initializer.glorotUniform(200), Initializer.zeros(), null, "logits"));
    m.compile(Optimizer.sgd(0.1), Loss.sparseCategoricalCrossentropy(true), List.of("accuracy"));
    return m;
  }

  /**
   * Runs the example; see the class comment for the options.
   *
   * @param args the options
   * @throws IOException if the data cannot be read
   */
  public static void main(String[] args) throws IOException {
    String data = null, master = null;
    int replicas = 2, epochs = 1, batch = 64, limit = Integer.MAX_VALUE;
    boolean single = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--data" -> data = args[++i];
        case "--replicas" -> replicas = Integer.parseInt(args[++i]);
        case "--epochs" -> epochs = Integer.parseInt(args[++i]);
        case "--batch" -> batch = Integer.parseInt(args[++i]);
        case "--limit" -> limit = Integer.parseInt(args[++i]);
        case "--single" -> single = true;
        case "--master" -> master = args[++i];
        default -> throw new IllegalArgumentException("unknown option " + args[i] + " (see the class comment of FashionMnistOnSpark)");
      }
    }
    if (data == null) throw new IllegalArgumentException("--data DIR is required: a directory with the Fashion-MNIST IDX files");
    Path dir = Path.of(data);
    int trainRows = Math.min(limit, Idx.read(find(dir, "train-labels-idx1-ubyte")).count());
    Tensor[] test = read(dir, "t10k", 0, Integer.MAX_VALUE);
    Sequential model;
    History history;
    String timing;
    if (single) {
      Tensor[] train = read(dir, "train", 0, trainRows);
      model = model(false);
      long t0 = System.nanoTime();
      history = model.fit(train[0], train[1], FitOptions.defaults().batchSize(batch).epochs(epochs).shuffle(false).verbose(0));
      int steps = epochs * ((trainRows + batch - 1) / batch);
      timing = String.format(Locale.ROOT, "one JVM: %d steps, %.2f ms/step", steps, (System.nanoTime() - t0) / 1e6 / steps);
    } else {
      SparkConf conf = new SparkConf().setAppName("vecnorm Fashion-MNIST data-parallel");
      if (master != null) conf.setMaster(master);
      try (JavaSparkContext sc = new JavaSparkContext(conf)) {
        sc.setLogLevel("WARN");
        List<Integer> parts = new ArrayList<>();
        for (int r = 0; r < replicas; r++) parts.add(r);
        int n = trainRows, count = replicas;
        String where = dir.toAbsolutePath().toString();
        // Each replica reads its own contiguous slice on its executor: no data goes through the driver.
        JavaRDD<Sample> rows = sc.parallelize(parts, replicas).flatMap(r -> slice(Path.of(where), r * (long) n / count, (r + 1) * (long) n / count));
        DataParallel.Trained trained = DataParallel.fit(rows, () -> model(true),
            new DataParallel.Options().batchSize(batch).epochs(epochs).shuffle(false));
        model = (Sequential) trained.model();
        history = trained.history();
        timing = String.format(Locale.ROOT, "%d replicas: %d steps, %.2f ms/step, of which %.2f ms in %.0f ring rounds",
            replicas, trained.steps() * epochs, trained.secondsPerStep() * 1e3, trained.collectiveSecondsPerStep() * 1e3, trained.roundsPerStep());
      }
    }
    Map<String, Double> evaluation = model.evaluate(test[0], test[1], 1000);
    System.out.printf(Locale.ROOT, "%s%ntrain (last epoch): loss %.4f accuracy %.4f; test: loss %.4f accuracy %.4f (%d training rows, batch %d, %d epochs)%n",
        timing, last(history, "loss"), last(history, "accuracy"), evaluation.get("loss"), evaluation.get("accuracy"), trainRows, batch, epochs);
  }

  private static double last(History h, String key) {
    List<Double> v = h.get(key);
    return v.get(v.size() - 1);
  }

  private static Iterator<Sample> slice(Path dir, long from, long to) throws IOException {
    Tensor[] t = read(dir, "train", (int) from, (int) to);
    List<Sample> rows = new ArrayList<>();
    for (int i = 0; i < t[1].size(); i++) {
      float[] x = new float[784];
      System.arraycopy(t[0].data(), i * 784, x, 0, 784);
      rows.add(Sample.of(x, (int) t[1].data()[i]));
    }
    return rows.iterator();
  }

  /** Rows [from, to) of a split, pixels scaled to [0, 1] as the demo does. */
  private static Tensor[] read(Path dir, String prefix, int from, int to) throws IOException {
    Idx.Data images = Idx.read(find(dir, prefix + "-images-idx3-ubyte")), labels = Idx.read(find(dir, prefix + "-labels-idx1-ubyte"));
    to = Math.min(to, labels.count());
    int n = to - from;
    float[] x = new float[n * 784], y = new float[n];
    for (int i = 0; i < x.length; i++) x[i] = (images.values()[from * 784 + i] & 0xff) / 255f;
    for (int i = 0; i < n; i++) y[i] = labels.values()[from + i];
    return new Tensor[] {new Tensor(new int[] {n, 784}, x), new Tensor(new int[] {n}, y)};
  }

  private static Path find(Path dir, String base) throws IOException {
    for (String name : new String[] {base, base + ".gz"}) if (Files.isRegularFile(dir.resolve(name))) return dir.resolve(name);
    throw new IOException("no " + base + "[.gz] in " + dir);
  }
}
