@failure-mode @scenario-clock-skew-minor
Feature: Clock skew minor
  The PC's clock is 20 minutes fast; the join works but Windows sign-in gets no PRT (AzureAdPrt NO).
  Guide section: AzureAdJoined : NO after setup

  Scenario: Clock skew minor: the symptom
    Given the scenario "clock-skew-minor"
    When the user tries to join the PC as the scenario describes
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the output shows "AzureAdPrt : NO"
    And the device is joined
    And the device is not enrolled in Intune

  Scenario: Clock skew minor: the fix repairs it
    Given the scenario "clock-skew-minor"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the output shows "AzureAdPrt : YES"
    And the device is joined
    And the device is not enrolled in Intune
