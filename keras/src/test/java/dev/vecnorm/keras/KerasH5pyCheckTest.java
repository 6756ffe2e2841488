package dev.vecnorm.keras;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vecnorm.layers.Activation;
import dev.vecnorm.layers.Add;
import dev.vecnorm.layers.BatchNormalization;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.Input;
import dev.vecnorm.layers.SymbolicTensor;
import dev.vecnorm.model.Model;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Our {@code .keras} files read along Keras 3's own load path (saving_lib's H5IOStore and H5Entry, then
 * Layer.load_own_variables' count and shape checks) by {@code src/test/python/keras_h5_check.py} on h5py,
 * i.e. on the HDF5 C library. Python Keras itself is not installable here; h5py is (Debian python3-h5py).
 * Skipped when no python3 with h5py is found.
 */
class KerasH5pyCheckTest {
  @TempDir Path dir;

  static final Path SCRIPT = Path.of("src", "test", "python", "keras_h5_check.py");

  /** A python3 that imports h5py: the one on the PATH, else Debian's (pyenv shims may hide it). */
  static String python() throws IOException {
    for (String p : List.of("python3", "/usr/bin/python3")) {
      try {
        Process pr = new ProcessBuilder(p, "-c", "import h5py, numpy").redirectErrorStream(true).start();
        pr.getInputStream().readAllBytes();
        if (pr.waitFor(60, TimeUnit.SECONDS) && pr.exitValue() == 0) return p;
      } catch (IOException e) {
        // not installed: try the next
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException(e);
      }
    }
    return null;
  }

  private static String check(Path... files) throws IOException {
    String python = python();
    assumeTrue(python != null, "no python3 with h5py (Debian: apt-get install python3-h5py)");
    List<String> cmd = new ArrayList<>(List.of(python, SCRIPT.toString()));
    for (Path f : files) cmd.add(f.toString());
    String out = Hdf5WriterTest.run(cmd);
    assertTrue(out.strip().endsWith("OK"), out);
    return out;
  }

  @Test
  void sequentialLoadsAlongKerasLoadPath() throws IOException {
    Path f = dir.resolve("m.keras");
    KerasModels.save(KerasSaveTest.mlp(), f);
    String out = check(f);
    assertTrue(out.contains("layers/dense: Dense 'dense' (5, 6), (6,)"), out);
    assertTrue(out.contains("layers/batch_normalization: BatchNormalization 'batch_normalization' (6,), (6,), (6,), (6,)"), out);
    assertTrue(out.contains("layers/dropout: Dropout 'dropout' no variables"), out);
  }

  @Test
  void functionalLoadsAlongKerasLoadPath() throws IOException {
    SymbolicTensor x = Input.shape(6);
    SymbolicTensor h = BatchNormalization.builder().name("bn").build().apply(Dense.builder(6).name("d").build().apply(x));
    SymbolicTensor y = new Activation(Activation.Kind.RELU, "relu").apply(new Add("add").apply(h, x));
    Model m = new Model(x, Dense.builder(3).activation("softmax").name("out").build().apply(y));
    Path f = dir.resolve("f.keras");
    KerasModels.save(m, f);
    String out = check(f);
    assertTrue(out.contains("layers/input_layer: InputLayer 'input_layer' no variables"), out);
    assertTrue(out.contains("layers/dense_1: Dense 'out' (6, 3), (3,)"), out);
  }

  @Test
  void theRealFileResavedHoldsTheSameArrays() throws IOException {
    Path real = KerasModelsTest.model("keras3.11.3_");
    Path ours = dir.resolve("ours.keras");
    KerasModels.save(KerasModels.load(real), ours);
    assertTrue(check(ours, real).contains("equal to the reference"));
  }

  @Test
  void theScriptIsThere() {
    assertTrue(Files.isRegularFile(SCRIPT), SCRIPT.toAbsolutePath().toString());
  }
}
