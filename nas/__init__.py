"""NAS for compact MNIST CNNs: NNI search under an fvcore parameter budget (see README.md)."""
import os
import warnings

# NNI imports pytorch_lightning (for evaluators this tool does not use) on every `import nni.nas...`
# unless the framework is "none": about 6 s of CPU in every trial process. Set before NNI is
# imported; NNI's manager and trials inherit it.
os.environ.setdefault("NNI_FRAMEWORK", "none")

import torch  # noqa: F401  (imported first: importing torch resets the warning filters set below)

# Known-harmless noise on torch 2.14: NNI 3.0 warns about every torch class it does not know
# (torch.nn.Buffer...), and fvcore's import calls the deprecated torch.jit.script. Filtered here,
# once, so that a user's terminal shows only what matters.
warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module.*", category=RuntimeWarning)
warnings.filterwarnings("ignore", message=".*torch.jit.script.*is deprecated.*", category=FutureWarning)
warnings.filterwarnings("ignore", message="Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", category=UserWarning)
