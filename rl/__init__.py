"""Policy optimisation methods: PPO (written here) and TRL's DPO, RLOO and GRPO, with their shared evaluation points."""
