// nscc simulator driver: reads inputs from .npy, runs the model, writes
// outputs as .npy and counters as JSON.
//
//   ./model WEIGHTS.bin --input IN0.npy ... --output OUT0.npy ... [--counters FILE.json] [--repeat N]
//   ./model WEIGHTS.bin --generate N --prompt-ids IDS.npy --output IDS_OUT.npy [--counters FILE.json]
//
// The second form (decoders: linear attention, or a KV cache) feeds the prompt one token
// at a time, then continues greedily for N tokens, with state of a fixed size:
// the step function (nscc's decode-step) takes its state as arguments and
// returns the new state; this loop keeps the buffers between calls.
//
// Inputs and outputs are positional in the order of model_io.hpp (the
// manifest.json beside lists them by name).
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "model.cpp"
#include "model_io.hpp"

namespace {

struct Npy {
  std::string descr;
  std::vector<int64_t> shape;
  nscc::aligned_vector<char> data;
};

[[noreturn]] void fail(const std::string& msg) {
  std::cerr << "nscc-sim: error: " << msg << std::endl;
  std::exit(2);
}

Npy read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path + ": cannot open");
  char magic[6];
  f.read(magic, 6);
  if (std::string(magic, 6) != "\x93NUMPY") fail(path + ": not a .npy file");
  unsigned char ver[2];
  f.read(reinterpret_cast<char*>(ver), 2);
  uint32_t hlen = 0;
  if (ver[0] == 1) {
    uint16_t h;
    f.read(reinterpret_cast<char*>(&h), 2);
    hlen = h;
  } else {
    f.read(reinterpret_cast<char*>(&hlen), 4);
  }
  std::string header(hlen, ' ');
  f.read(&header[0], hlen);
  Npy out;
  auto d = header.find("'descr':");
  auto q1 = header.find('\'', d + 8), q2 = header.find('\'', q1 + 1);
  out.descr = header.substr(q1 + 1, q2 - q1 - 1);
  if (header.find("'fortran_order': True") != std::string::npos) fail(path + ": Fortran-ordered arrays are not supported");
  auto s = header.find('(', header.find("'shape':")), e = header.find(')', s);
  std::stringstream ss(header.substr(s + 1, e - s - 1));
  std::string item;
  while (std::getline(ss, item, ','))
    if (item.find_first_not_of(' ') != std::string::npos) out.shape.push_back(std::stoll(item));
  out.data.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return out;
}

void write_npy(const std::string& path, const char* descr, const std::vector<int64_t>& shape, const void* data, size_t nbytes) {
  std::string sh = "(";
  for (size_t i = 0; i < shape.size(); ++i) sh += std::to_string(shape[i]) + (shape.size() == 1 ? "," : (i + 1 < shape.size() ? ", " : ""));
  sh += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + sh + ", }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  if (!f) fail(path + ": cannot write");
  f.write("\x93NUMPY\x01\x00", 8);
  uint16_t hl = header.size();
  f.write(reinterpret_cast<const char*>(&hl), 2);
  f << header;
  f.write(reinterpret_cast<const char*>(data), nbytes);
}

int decode(const char* weights_path, const std::string& prompt_path, int n, const std::vector<std::string>& outs, const std::string& counters) {
  if (!kHasStep) fail("this model has no token-by-token form (it needs linear attention)");
  if (outs.size() != 1 || prompt_path.empty()) fail("--generate needs --prompt-ids IDS.npy and one --output");
  Npy p = read_npy(prompt_path);
  if (p.descr != "<i8" || p.shape.size() != 1 || p.shape[0] < 1) fail(prompt_path + ": the prompt must be a non-empty 1-d int64 array");
  const int64_t* prompt = reinterpret_cast<const int64_t*>(p.data.data());
  if (p.shape[0] + n > kStepLength) fail("prompt plus generated tokens exceed the " + std::to_string(kStepLength) + " positions the model was compiled for");
  try {
    nscc::Weights weights(weights_path);
    check_weights(weights);
    StepModel model(weights);
    StepState state(kStepStates), next(kStepStates);  // zero: the state before the first token
    size_t state_bytes = 0;
    for (int i = 0; i < kStepStates; ++i) {
      state[i].assign(kStepStateBytes[i], 0);
      next[i].assign(kStepStateBytes[i], 0);
      state_bytes += kStepStateBytes[i];
    }
    std::vector<int64_t> ids(kStepBatch), generated;
    nscc::aligned_vector<float> logits(kStepBatch * kStepVocab);
    int64_t pos = 0;
    auto t0 = std::chrono::steady_clock::now();
    auto feed = [&](int64_t tok) {
      std::fill(ids.begin(), ids.end(), tok);
      run_step(model, ids.data(), &pos, state, next, logits.data());
      std::swap(state, next);  // the new state is the next call's
      ++pos;
    };
    for (int64_t i = 0; i < p.shape[0]; ++i) feed(prompt[i]);
    auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      int64_t best = std::max_element(logits.begin(), logits.begin() + kStepVocab) - logits.begin();
      generated.push_back(best);
      feed(best);
    }
    auto t2 = std::chrono::steady_clock::now();
    write_npy(outs[0], "<i8", {(int64_t)generated.size()}, generated.data(), generated.size() * 8);
    if (!counters.empty()) {
      std::ofstream f(counters);
      double tp = std::chrono::duration<double>(t1 - t0).count(), tg = std::chrono::duration<double>(t2 - t1).count();
      f << "{\"prompt_tokens\": " << p.shape[0] << ", \"prompt_seconds\": " << tp << ", \"generated_tokens\": " << n << ", \"generate_seconds\": " << tg
        << ", \"state_bytes\": " << state_bytes << ", \"weight_file_bytes\": " << weights.bytes() << ", \"layers\": []}\n";
    }
  } catch (const std::exception& e) {
    fail(e.what());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) fail("usage: model WEIGHTS.bin --input IN.npy ... --output OUT.npy ... [--counters FILE.json] [--repeat N]");
  std::vector<std::string> ins, outs;
  std::string counters, prompt;
  int repeat = 1, generate = -1;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--input" && i + 1 < argc) ins.push_back(argv[++i]);
    else if (a == "--output" && i + 1 < argc) outs.push_back(argv[++i]);
    else if (a == "--counters" && i + 1 < argc) counters = argv[++i];
    else if (a == "--repeat" && i + 1 < argc) repeat = std::max(1, std::atoi(argv[++i]));
    else if (a == "--generate" && i + 1 < argc) generate = std::max(0, std::atoi(argv[++i]));
    else if (a == "--prompt-ids" && i + 1 < argc) prompt = argv[++i];
    else fail("unknown argument " + a);
  }
  if (generate >= 0) return decode(argv[1], prompt, generate, outs, counters);
  if ((int)ins.size() != kNumInputs) fail("the model takes " + std::to_string(kNumInputs) + " inputs");
  if ((int)outs.size() != kNumOutputs) fail("the model gives " + std::to_string(kNumOutputs) + " outputs");
  try {
    nscc::Weights weights(argv[1]);
    check_weights(weights);
    Model model(weights);
    std::vector<Npy> in_data;
    for (int i = 0; i < kNumInputs; ++i) {
      Npy n = read_npy(ins[i]);
      if (n.descr != kInputs[i].descr) fail(ins[i] + ": dtype " + n.descr + ", the model takes " + kInputs[i].descr);
      if (n.shape != kInputs[i].shape) fail(ins[i] + ": wrong shape for input " + std::string(kInputs[i].name));
      if (n.data.size() < kInputs[i].nbytes) fail(ins[i] + ": truncated");
      in_data.push_back(std::move(n));
    }
    std::vector<nscc::aligned_vector<char>> out_data(kNumOutputs);
    for (int j = 0; j < kNumOutputs; ++j) out_data[j].resize(kOutputs[j].nbytes);
    double best = 1e30;
    for (int r = 0; r < repeat; ++r) {
      for (auto& c : model.counters) c.events = c.sops = c.elements = 0;
      auto t0 = std::chrono::steady_clock::now();
      run_model(model, in_data, out_data);
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    for (int j = 0; j < kNumOutputs; ++j) write_npy(outs[j], kOutputs[j].descr, kOutputs[j].shape, out_data[j].data(), kOutputs[j].nbytes);
    if (!counters.empty()) {
      std::ofstream f(counters);
      if (!f) fail(counters + ": cannot write");
      f << "{\"seconds\": " << best << ", \"weight_file_bytes\": " << weights.bytes() << ", \"layers\": [";
      for (int i = 0; i < Model::n_layers; ++i) {
        const auto& c = model.counters[i];
        f << (i ? ", " : "") << "{\"index\": " << i << ", \"events\": " << c.events << ", \"sops\": " << c.sops << ", \"elements\": " << c.elements << "}";
      }
      f << "]}\n";
    }
  } catch (const std::exception& e) {
    fail(e.what());
  }
  return 0;
}
