"""SB3 feature extractors for observations that ``MlpPolicy`` / ``CnnPolicy`` do not fit.

Name them in ``agents/*.yaml`` as ``"rewardlab.policies.<module>:<Class>"``
under ``policy_kwargs.features_extractor_class``; torch is imported only when
a module here is.
"""
