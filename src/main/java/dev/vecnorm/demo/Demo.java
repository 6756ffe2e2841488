package dev.vecnorm.demo;

import dev.vecnorm.BatchNorm;
import dev.vecnorm.layers.Activation;
import dev.vecnorm.layers.BatchNormalization;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.Initializer;
import dev.vecnorm.model.FitOptions;
import dev.vecnorm.model.History;
import dev.vecnorm.model.Loss;
import dev.vecnorm.model.Optimizer;
import dev.vecnorm.model.Sequential;
import java.awt.Color;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The main job: trains the same sigmoid MLP (3 x 100 hidden units, as in Ioffe & Szegedy 2015, Fig. 1)
 * with and without batch normalization, at a normal and at a ten times higher learning rate, on
 * Fashion-MNIST, and shows what batch normalization buys: faster convergence and tolerance of the
 * larger rate.
 */
public final class Demo {

  static final String USAGE = """
      usage: ./vecnorm demo [options]
        --epochs N       epochs per run (default 10)
        --batch-size N   mini-batch size (default 64)
        --lr X           the normal SGD learning rate; the high one is 10x (default 0.02)
        --target X       validation accuracy for "epochs to reach" (default 0.80)
        --threads N      train up to N of the four runs at once (default 1; results do not depend on it)
        --data DIR       full Fashion-MNIST IDX files (train-*, t10k-*, plain or .gz), e.g. from the
                         Debian package dataset-fashion-mnist; default: the bundled 10k test set split
                         7000 train / 1500 validation / 1500 test
        --out DIR        where to write the learning-curve PNG (default: demo-output)
        --limit N        use only the first N training samples (for quick checks)
        --help           this text
      """;

  record Options(int epochs, int batchSize, double lr, double target, int threads, Path data, Path out, int limit) {}

  record Run(String label, boolean batchNorm, double lr) {}

  record Result(Run run, History history, double testAccuracy, double samplesPerSecond, double batchNormShare, String log) {}

  public static void main(String[] args) {
    int code;
    try {
      code = run(args, System.out);
    } catch (IllegalArgumentException e) {
      System.err.println("vecnorm demo: " + e.getMessage() + " (see --help)");
      code = 2;
    } catch (IOException e) {
      System.err.println("vecnorm demo: " + e.getMessage());
      code = 1;
    }
    System.exit(code);
  }

  static int run(String[] args, PrintStream out) throws IOException {
    Options o = parse(args);
    if (o == null) {
      out.print(USAGE);
      return 0;
    }
    FashionMnist.Split train, validation, test;
    if (o.data() != null) {
      if (!Files.isDirectory(o.data())) throw new IllegalArgumentException("--data " + o.data() + " is not a directory");
      FashionMnist.Split full = FashionMnist.fromDirectory(o.data(), "train");
      int nVal = full.size() / 12;
      train = full.rows(0, full.size() - nVal);
      validation = full.rows(full.size() - nVal, full.size());
      test = FashionMnist.fromDirectory(o.data(), "t10k");
    } else {
      FashionMnist.Split all = FashionMnist.bundledTestSet();
      train = all.rows(0, 7000);
      validation = all.rows(7000, 8500);
      test = all.rows(8500, all.size());
    }
    if (o.limit() > 0 && o.limit() < train.size()) train = train.rows(0, o.limit());
    out.printf(Locale.ROOT, "vecnorm demo: Fashion-MNIST %s, %d train / %d validation / %d test, kernels: %s%n",
        o.data() == null ? "(bundled 10k test set)" : o.data().toString(), train.size(), validation.size(), test.size(),
        BatchNorm.implementationName());

    List<Run> runs = List.of(new Run("MLP", false, o.lr()), new Run("MLP+BN", true, o.lr()),
        new Run("MLP", false, 10 * o.lr()), new Run("MLP+BN", true, 10 * o.lr()));
    List<Result> results = new ArrayList<>();
    final FashionMnist.Split tr = train, va = validation, te = test;
    if (o.threads() == 1) {
      for (Run r : runs) results.add(train(r, o, tr, va, te, out, 1));
    } else {
      ExecutorService pool = Executors.newFixedThreadPool(o.threads());
      try {
        List<Future<Result>> futures = new ArrayList<>();
        for (Run r : runs) futures.add(pool.submit(() -> train(r, o, tr, va, te, null, 0)));
        for (Future<Result> f : futures) {
          Result res = f.get();
          out.print(res.log());
          results.add(res);
        }
      } catch (Exception e) {
        throw new IOException("a training run failed: " + e.getMessage(), e);
      } finally {
        pool.shutdownNow();
      }
    }
    out.println();
    out.print(table(results, o.target()));
    Files.createDirectories(o.out());
    Path png = o.out().resolve("learning-curves.png");
    writeChart(png, results);
    out.println();
    out.println("learning curves: " + png.toAbsolutePath());
    return 0;
  }

  static Sequential model(boolean batchNorm) {
    Sequential m = new Sequential();
    int[] widths = {100, 100, 100};
    for (int i = 0; i < widths.length; i++) {
      // Same seeds with and without BN: the two nets start from the same weights.
      m.add(new Dense(widths[i], !batchNorm, Initializer.glorotUniform(100 + i), Initializer.zeros(), null, "dense_" + i));
      // momentum 0.9, not Keras's 0.99: with ~100 steps per epoch the 0.99 moving averages still
      // weigh their initial values after several epochs, and validation (inference mode) lags training.
      if (batchNorm) m.add(BatchNormalization.builder().momentum(0.9).name("batch_normalization_" + i).build());
      m.add(new Activation(Activation.Kind.SIGMOID, "sigmoid_" + i));
    }
    m.add(new Dense(10, true, Initializer.glorotUniform(200), Initializer.zeros(), null, "logits"));
    return m;
  }

  static Result train(Run run, Options o, FashionMnist.Split train, FashionMnist.Split val, FashionMnist.Split test,
                      PrintStream out, int verbose) {
    Sequential m = model(run.batchNorm());
    m.compile(Optimizer.sgd(run.lr()), Loss.sparseCategoricalCrossentropy(true), List.of("accuracy"));
    java.io.ByteArrayOutputStream buffer = new java.io.ByteArrayOutputStream();
    PrintStream log = out != null ? out : new PrintStream(buffer, true, java.nio.charset.StandardCharsets.UTF_8);
    log.printf(Locale.ROOT, "%n%s, SGD learning rate %s%n", run.label(), fmtLr(run.lr()));
    long start = System.nanoTime();
    History h = m.fit(train.images(), train.labels(), FitOptions.defaults().epochs(o.epochs()).batchSize(o.batchSize())
        .validationData(val.images(), val.labels()).seed(42).verbose(verbose).output(log));
    double seconds = (System.nanoTime() - start) / 1e9;
    // Validation passes are inside fit's time; count them in the throughput as the samples they are.
    double samples = (double) (train.size() + val.size()) * h.epochs();
    Map<String, Double> testScores = m.evaluate(test.images(), test.labels(), 256);
    if (out == null) {
      log.printf(Locale.ROOT, "done: final val_accuracy %.4f, test accuracy %.4f%n", last(h.get("val_accuracy")), testScores.get("accuracy"));
    }
    return new Result(run, h, testScores.get("accuracy"), samples / seconds, m.batchNormNanos() / 1e9 / seconds,
        buffer.toString(java.nio.charset.StandardCharsets.UTF_8));
  }

  static String table(List<Result> results, double target) {
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT, "| model | learning rate | validation accuracy by epoch | epochs to %.0f%% | test accuracy | samples/s | time in BN |%n",
        target * 100));
    sb.append("| --- | ---: | --- | ---: | ---: | ---: | ---: |\n");
    for (Result r : results) {
      List<Double> acc = r.history().get("val_accuracy");
      StringBuilder curve = new StringBuilder();
      int reached = -1;
      for (int e = 0; e < acc.size(); e++) {
        curve.append(e == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.3f", acc.get(e)));
        if (reached < 0 && acc.get(e) >= target) reached = e + 1;
      }
      sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %.4f | %.0f | %.0f%% |%n", r.run().label(), fmtLr(r.run().lr()), curve,
          reached < 0 ? "not reached" : String.valueOf(reached), r.testAccuracy(), r.samplesPerSecond(), 100 * r.batchNormShare()));
    }
    return sb.toString();
  }

  private static String fmtLr(double lr) {
    return String.format(Locale.ROOT, "%.3g", lr);
  }

  private static double last(List<Double> v) {
    return v.isEmpty() ? Double.NaN : v.get(v.size() - 1);
  }

  static void writeChart(Path png, List<Result> results) throws IOException {
    Color[] colors = {new Color(214, 39, 40), new Color(31, 119, 180), new Color(214, 39, 40), new Color(31, 119, 180)};
    List<Chart.Series> acc = new ArrayList<>(), loss = new ArrayList<>();
    for (int i = 0; i < results.size(); i++) {
      Result r = results.get(i);
      String label = r.run().label() + ", lr " + fmtLr(r.run().lr());
      boolean high = i >= 2;
      acc.add(new Chart.Series(label, r.history().get("val_accuracy"), colors[i], high));
      loss.add(new Chart.Series(label, r.history().get("loss"), colors[i], high));
    }
    Chart.write(png, "Fashion-MNIST, sigmoid MLP 3x100: with and without batch normalization",
        List.of(new Chart.Panel("validation accuracy", "accuracy", acc), new Chart.Panel("training loss", "loss", loss)));
  }

  /** Null for --help. Throws IllegalArgumentException with a one-line message for bad flags. */
  static Options parse(String[] args) {
    int epochs = 10, batchSize = 64, threads = 1, limit = 0;
    double lr = 0.02, target = 0.80;
    Path data = null, out = Path.of("demo-output");
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (a.equals("--help") || a.equals("-h")) return null;
      if (!a.startsWith("--")) throw new IllegalArgumentException("unexpected argument '" + a + "'");
      String name = a, value;
      int eq = a.indexOf('=');
      if (eq > 0) {
        name = a.substring(0, eq);
        value = a.substring(eq + 1);
      } else {
        if (i + 1 >= args.length) throw new IllegalArgumentException(a + " needs a value");
        value = args[++i];
      }
      switch (name) {
        case "--epochs" -> epochs = positiveInt(name, value);
        case "--batch-size" -> batchSize = positiveInt(name, value);
        case "--threads" -> threads = positiveInt(name, value);
        case "--limit" -> limit = positiveInt(name, value);
        case "--lr" -> lr = positiveDouble(name, value);
        case "--target" -> {
          target = positiveDouble(name, value);
          if (target > 1) throw new IllegalArgumentException("--target must be in (0, 1], got " + value);
        }
        case "--data" -> data = Path.of(value);
        case "--out" -> out = Path.of(value);
        default -> throw new IllegalArgumentException("unknown option " + name);
      }
    }
    return new Options(epochs, batchSize, lr, target, threads, data, out, limit);
  }

  private static int positiveInt(String name, String value) {
    try {
      int v = Integer.parseInt(value);
      if (v < 1) throw new NumberFormatException();
      return v;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be a positive integer, got '" + value + "'");
    }
  }

  private static double positiveDouble(String name, String value) {
    try {
      double v = Double.parseDouble(value);
      if (!(v > 0) || Double.isInfinite(v)) throw new NumberFormatException();
      return v;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be a positive number, got '" + value + "'");
    }
  }
}
